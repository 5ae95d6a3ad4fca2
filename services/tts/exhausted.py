"""Synthesis commands the queue stopped delivering: answered for, so their job never waits forever.

A command every worker that took it was killed on (a text that crashes the voice, a segment
that exhausts memory) is delivered ``max_deliver`` times and then never again, with nobody left
to report it. The server's advisory of it is kept in ``EXHAUSTED`` (``services.bus.exhausted``);
any tts worker takes it from the ``exhausted-tts`` consumer, reports the command's positions
failed with the reason, records a dead letter and removes the command from the queue, so the
job ends with that reason and ``audiobook retry`` queues it anew.
"""

from __future__ import annotations

import contextlib
import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from events import names
from events.codec import DecodeError, decode_command
from services.bus.consume import Decision
from services.bus.exhausted import exhausted_of
from services.bus.publish import publish_all, record_dead_letter
from services.tts import decide

log = logging.getLogger(__name__)


async def answer_exhausted(js: JetStreamContext, msg: Msg, worker: str) -> Decision:
    """Report the command an advisory names failed, then take it off the queue (idempotent: a
    repeated report is deduplicated, a command already gone is nothing to do)."""
    advisory = exhausted_of(msg.data)
    if advisory is None or advisory.stream != names.SYNTH_STREAM:
        return Decision()  # not an advisory about a synthesis command
    try:
        stored = await js.get_msg(names.SYNTH_STREAM, advisory.stream_seq)
    except NotFoundError:
        return Decision()  # answered already
    data, subject = stored.data or b"", stored.subject or ""
    reason = decide.exhausted_reason(advisory.deliveries)
    try:
        job = decode_command(data)
    except DecodeError:
        job = None
    if job is not None and subject == names.synth_subject(job.engine, job.job_id, job.chapter, job.index):
        log.warning("job %s chapter %d segment %d: %s", job.job_id, job.chapter, job.index, reason)
        await publish_all(js, decide.failed(job, reason, worker))
    await record_dead_letter(js, "tts", subject, names.SYNTH_STREAM, advisory.stream_seq, advisory.deliveries,
                             reason, data)
    with contextlib.suppress(NotFoundError):
        await js.delete_msg(names.SYNTH_STREAM, advisory.stream_seq)
    return Decision()
