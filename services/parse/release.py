"""Release each job's synthesis commands a window at a time, as its segments land (adapter).

Parse plans every command of a job at once, but queues only a window of them
(:func:`services.parse.decide.release_window`: two rounds of the fleet) and keeps the rest as the
job's queue plan (``plans/<job>.json`` in the object store). This loop follows every job's
segment events through its own durable consumer (``release`` on EVENTS) and, for each job whose
segments landed, queues its next commands up to its window (:func:`decide.to_release`).

So jobs share the work queue: a book that comes later has its first window in the queue at once,
ahead of everything an earlier, longer book releases after it, and waits about one round of the
fleet, not for the longer book to finish. Nothing here is state of its own: the plan is in the
store, a job's progress is its log (the assembler's checkpoint, brought up to date with the
events after it), and what is queued is the work queue itself. A command released twice (a
batch handled again) is the same message id: the server keeps one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.projection import SNAPSHOT_ERRORS, Tracked, from_snapshot
from events.types import BookParsed, SegmentChecked, SegmentFailed, SegmentSynthesized
from services.bus.consume import Decision, consume_batches
from services.bus.ephemeral import read_object
from services.bus.jobs import event_of, queued_segments, rebuild
from services.bus.publish import last_message, publish_all
from services.bus.topology import checkpoints
from services.bus.tracing import context_of, span
from services.parse import decide
from services.parse.decide import Command
from services.parse.plan import plan_of

log = logging.getLogger(__name__)
KEPT_JOBS = 8  # jobs whose plan and state are kept decoded between batches (a 40-hour book's plan: about 5 MB)
SLOTS_TTL_S = 2.0  # the fleet's size is asked of the work queue at most this often per engine


class Releaser:
    """Follows the segment events of every job and queues each job's next commands."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, window: int = 0) -> None:
        self.js, self.store, self.window = js, store, window
        self.kv: KeyValue | None = None  # the assembler's checkpoints (found at the first batch)
        self.plans: OrderedDict[str, tuple[str, list[Command]]] = OrderedDict()  # job -> (plan's nuid, commands)
        self.tracked: OrderedDict[str, Tracked] = OrderedDict()
        self.slots: dict[str, tuple[float, int]] = {}  # engine -> (when asked, slots)
        self.released = 0

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.js.pull_subscribe_bind(durable=names.RELEASE_CONSUMER, stream=names.EVENTS_STREAM)
        await consume_batches(self.js, sub, self.handle_batch, stop, stage="release",
                              destination=names.SYNTH_PREFIX, batch=256, timeout=0.5)

    async def handle_batch(self, msgs: list[Msg]) -> Decision:
        """The next commands of every job with a segment event in the batch."""
        events = (event_of(msg) for msg in msgs)
        jobs = dict.fromkeys(e.job_id for e in events if isinstance(e, (SegmentSynthesized, SegmentFailed,
                                                                          SegmentChecked)))
        for job_id in jobs:
            commands = await self.next_commands(job_id)
            if commands:  # in the book's own trace (its book.parsed carries it), as parse's first window
                parsed = await last_message(self.js, job_id, BookParsed.KIND)
                with span("release commands", {"audiobook.job_id": job_id, "audiobook.segments": len(commands)},
                          parent=context_of(parsed.headers if parsed is not None else None)):
                    await publish_all(self.js, commands)
                self.released += len(commands)
        return Decision()

    async def next_commands(self, job_id: str) -> list[Command]:
        plan = await self._plan(job_id)
        if not plan:
            return []
        tracked = await self._tracked(job_id)
        queued = await queued_segments(self.js, job_id)
        window = decide.release_window(await self.fleet_slots(plan[0][1].engine), self.window,
                                       tracked.state.requested_priority)
        return decide.to_release(plan, tracked.state, queued, window)

    async def _plan(self, job_id: str) -> list[Command]:
        """The job's plan, read again only when it changed (a resume plans the job anew)."""
        try:
            info = await self.store.get_info(names.plan_object(job_id))
        except ObjectNotFoundError:
            return []  # a job planned before plans were kept, or whose every command was queued at once
        kept = self.plans.get(job_id)
        revision = info.nuid or ""  # a new one for every put
        if kept is None or kept[0] != revision:
            try:
                data = await read_object(self.js, self.store, names.OBJECT_BUCKET, names.plan_object(job_id))
            except ObjectNotFoundError:
                return []
            kept = (revision, plan_of(data, job_id) or [])
        self.plans[job_id] = kept
        self.plans.move_to_end(job_id)
        while len(self.plans) > KEPT_JOBS:
            self.plans.popitem(last=False)
        return kept[1]

    async def _tracked(self, job_id: str) -> Tracked:
        """The job's state from its log: kept from the last batch, else the assembler's checkpoint,
        then brought up to date with the events after it."""
        tracked = self.tracked.pop(job_id, None)
        if tracked is None:
            self.kv = self.kv or await checkpoints(self.js)
            try:
                entry = await self.kv.get(job_id)
                tracked = from_snapshot(entry.value or b"")
            except (KeyNotFoundError, *SNAPSHOT_ERRORS):
                tracked = None
        tracked = await rebuild(self.js, job_id, tracked)
        self.tracked[job_id] = tracked
        while len(self.tracked) > KEPT_JOBS:
            self.tracked.popitem(last=False)
        return tracked

    async def fleet_slots(self, engine: str) -> int:
        """What the engine's workers hold or ask for now: messages pending their ack, and pull requests."""
        now = time.monotonic()
        known = self.slots.get(engine)
        if known is not None and now - known[0] < SLOTS_TTL_S:
            return known[1]
        try:
            info = await self.js.consumer_info(names.SYNTH_STREAM, names.engine_consumer(engine))
            slots = (info.num_ack_pending or 0) + (info.num_waiting or 0)
        except NotFoundError:
            slots = 0
        self.slots[engine] = (now, slots)
        return slots
