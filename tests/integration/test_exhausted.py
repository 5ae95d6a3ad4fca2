"""A synthesis command that stops every worker that takes it (killed each time, so none reports it)
is answered for once the queue stops delivering it: its segment fails with the reason, a dead
letter records it, and it leaves the queue, so its job ends instead of waiting forever."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from events import names
from events.codec import decode_dead_letter, encode
from events.types import SegmentFailed, SynthesizeSegment
from services.bus.jobs import queued_segments
from services.bus.topology import ensure_topology
from services.testing.waiting import job_events, wait_for
from tests.integration.helpers import running

POISON = SynthesizeSegment("jpoison", 0, 0, ("This segment stops every worker.",), "test", "default", 1.0, 250,
                           "kpoison", duplicates=((0, 3),), generation=2)


async def test_a_command_that_stops_every_worker_fails_its_segments_once_the_queue_gives_up(js, client,
                                                                                         settings) -> None:
    brief = replace(settings, ack_wait_s=1.0, max_deliver=2, engines=("test",))
    await ensure_topology(js, brief)  # the queue now delivers a command twice at most
    await js.publish(names.synth_subject("test", "jpoison", 0, 0), encode(POISON))
    killed = await js.pull_subscribe_bind(durable=names.engine_consumer("test"), stream=names.SYNTH_STREAM)
    for delivery in (1, 2):  # a worker takes it and dies, twice: no ack, no event
        (taken,) = await killed.fetch(1, timeout=10)
        assert taken.metadata.num_delivered == delivery
    await killed.unsubscribe()
    await asyncio.sleep(2.5)  # the last delivery's ack wait ends: the server stops delivering it, and says so
    assert await queued_segments(js, "jpoison") == {(0, 0)}, "given up on, the command still sits in the queue"

    async with running(["tts"], brief):

        async def failures() -> list[SegmentFailed]:
            return [e for e in await job_events(js, "jpoison") if isinstance(e, SegmentFailed)]

        async def both() -> list[SegmentFailed] | None:
            found = await failures()
            return found if len(found) == 2 else None

        failed = await wait_for(both, timeout=30)
    assert [(e.chapter, e.index, e.generation, e.permanent) for e in failed] == [(0, 0, 2, True), (0, 3, 2, True)]
    assert failed[0].reason.startswith("every tts worker that took it stopped before finishing it (2 deliveries)")
    assert await queued_segments(js, "jpoison") == set(), "it left the queue: a retry queues it anew"
    letters = await js.stream_info(names.DEAD_STREAM)
    letter = decode_dead_letter((await js.get_msg(names.DEAD_STREAM, letters.state.last_seq)).data or b"")
    assert (letter.stage, letter.stream, letter.delivery) == ("tts", names.SYNTH_STREAM, 2)
    assert letter.subject == names.synth_subject("test", "jpoison", 0, 0)

