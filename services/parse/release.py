"""Release each job's synthesis commands a window at a time, as its segments land (adapter).

Parse plans every command of a job at once, but queues only a window of them
(:func:`services.parse.decide.release_window`: two rounds of the fleet) and keeps the rest as the
job's queue plan (``plans/<job>.json`` in the object store). This loop follows every job's
segment events through its own durable consumer (``release`` on EVENTS) and, for each job whose
segments landed, queues its next commands up to its window (:func:`decide.to_release`).

So jobs share the work queue: a book that comes later has its first window in the queue at once,
ahead of everything an earlier, longer book releases after it, and waits about one round of the
fleet, not for the longer book to finish. Nothing here is state of its own: the plan is in the
store, a job's progress is its log (the assembler's checkpoint, with the segment events just
received folded in), and what is queued is the work queue itself. A command released twice (a
batch handled again) is the same message id: the server keeps one. Every few seconds the jobs
seen running are looked at again, so a release lost with a server, or one that failed, is made up
for; at start the running jobs are found in the checkpoints, so a job whose last events were
handled by a process that died before releasing after them is not left waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError, NotFoundError, ObjectNotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.projection import FINAL, RUNNING, SNAPSHOT_ERRORS, JobState, from_snapshot
from events.tickets import holds_ticket
from events.types import (
    BookParsed,
    Event,
    JobCancelled,
    JobPaused,
    JobResumed,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
)
from services.bus.consume import Decision, consume_batches
from services.bus.ephemeral import read_object
from services.bus.jobs import checkpointed, event_of, queued_segments
from services.bus.publish import last_message, publish_command
from services.bus.topology import checkpoints
from services.bus.tracing import context_of, span
from services.parse import decide
from services.parse.decide import Command
from services.parse.plan import plan_of

log = logging.getLogger(__name__)
KEPT_JOBS = 8  # jobs whose plan and state are kept decoded between batches (a 40-hour book's plan: about 5 MB)
SLOTS_TTL_S = 2.0  # the fleet's size is asked of the work queue at most this often per engine
SWEEP_S = 5.0  # how often the running jobs are looked at again without an event


class Releaser:
    """Follows the segment events of every job and queues each job's next commands."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, window: int = 0, key: str | None = None) -> None:
        self.js, self.store, self.window, self.key = js, store, window, key  # key: the core's command key
        self.kv: KeyValue | None = None  # the assembler's checkpoints (found at the first batch)
        self.plans: OrderedDict[str, tuple[str, list[Command]]] = OrderedDict()  # job -> (plan's nuid, commands)
        self.slots: dict[str, tuple[float, int]] = {}  # engine -> (when asked, slots)
        # jobs that may have commands to release, oldest first, with their engine ("" until known): the
        # sweep looks at them, and a user's running jobs of one engine share one window (decide.owners_share)
        self.running: dict[str, str] = {}
        self.released = 0

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.js.pull_subscribe_bind(durable=names.RELEASE_CONSUMER, stream=names.EVENTS_STREAM)
        sweeping = asyncio.create_task(self._sweep(stop))
        try:
            await consume_batches(self.js, sub, self.handle_batch, stop, stage="release",
                                  destination=names.SYNTH_PREFIX, batch=256, timeout=0.5)
        finally:
            sweeping.cancel()

    async def _sweep(self, stop: asyncio.Event) -> None:
        """Now and then, every job that may have commands to release is looked at again: a release
        that failed (a server lost mid-batch) is made up for without waiting for the job's next
        segment event. The first sweep finds the running jobs in the checkpoints."""
        adopted = False
        while not stop.is_set():
            adopted = adopted or await self._adopt()
            for job_id in list(self.running):
                await self._release_or_later(job_id, {})
            await asyncio.sleep(SWEEP_S)

    async def _adopt(self) -> bool:
        """Add every job whose checkpoint says it is running; False if they could not be listed."""
        try:
            self.kv = self.kv or await checkpoints(self.js)
            try:
                keys = await self.kv.keys()
            except NoKeysError:
                return True
            for job_id in keys:
                try:
                    entry = await self.kv.get(job_id)
                    if from_snapshot(entry.value or b"").state.status in RUNNING:
                        self.running.setdefault(job_id, "")
                except (KeyNotFoundError, *SNAPSHOT_ERRORS):
                    continue
        except Exception as exc:  # (the next sweep tries again)
            log.info("could not list the running jobs: %s", exc)
            return False
        return True

    async def handle_batch(self, msgs: list[Msg]) -> Decision:
        """The next commands of every job with a segment event in the batch."""
        landed: dict[str, list[tuple[int, Event]]] = {}
        for msg in msgs:
            event = event_of(msg)
            if isinstance(event, (SegmentSynthesized, SegmentFailed, SegmentChecked)):
                landed.setdefault(event.job_id, []).append((msg.metadata.sequence.stream, event))
        for job_id, events in landed.items():
            self.running.setdefault(job_id, "")
            await self._release_or_later(job_id, {seq: event for seq, event in events})
        return Decision()

    async def _release_or_later(self, job_id: str, events: dict[int, Event]) -> None:
        """Release now; if that fails, the job stays among the running and the next sweep tries again
        (one job's trouble never holds the others' events back)."""
        try:
            await self._release(job_id, events)
        except Exception as exc:
            log.info("job %s: release failed (the next sweep tries again): %s", job_id, exc)

    async def _release(self, job_id: str, events: dict[int, Event]) -> None:
        """Queue the job's next commands, in the book's own trace (its book.parsed carries it)."""
        commands = await self.next_commands(job_id, events)
        if commands:
            parsed = await last_message(self.js, job_id, BookParsed.KIND)
            with span("release commands", {"audiobook.job_id": job_id, "audiobook.segments": len(commands)},
                      parent=context_of(parsed.headers if parsed is not None else None)):
                queued = await asyncio.gather(*(publish_command(self.js, subject, command)
                                                for subject, command in commands))
            self.released += len(commands)
            if await self.is_stopped(job_id):  # paused or cancelled while they went out: its queue stays empty
                await self._withdraw(job_id, queued)

    async def _withdraw(self, job_id: str, sequences: list[int]) -> None:
        """Take back commands released to a job stopped meanwhile (its stop emptied its queue before)."""
        for seq in sequences:
            with contextlib.suppress(NotFoundError):  # taken by a worker, which drops a stopped job's work
                await self.js.delete_msg(names.SYNTH_STREAM, seq)
        log.info("job %s stopped while %d commands were released: taken back", job_id, len(sequences))

    async def next_commands(self, job_id: str, events: dict[int, Event] | None = None) -> list[Command]:
        """The commands to queue now (``events``: the job's segment events just received, by stream sequence)."""
        plan = await self._plan(job_id)
        if not plan:
            self.running.pop(job_id, None)
            return []
        state = await self._state(job_id, events or {})
        if state.status in FINAL:
            self.plans.pop(job_id, None)  # nothing more will be released: the sweep forgets it
            self.running.pop(job_id, None)
            return []
        if await self.is_stopped(job_id):
            self.running.pop(job_id, None)  # a resume plans it anew, and its events bring it back
            return []
        if state.ready_to_assemble:  # every segment done: it needs the fleet no more (its book is being built)
            self.running.pop(job_id, None)
            return []
        engine = self.running[job_id] = plan[0][1].engine
        queued = await queued_segments(self.js, job_id)
        window = decide.release_window(await self.fleet_slots(engine), self.window, state.requested_priority,
                                       decide.owners_share(job_id, self.sharing(engine)))
        return decide.to_release(plan, state, queued, window)

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

    def sharing(self, engine: str) -> list[str]:
        """The running jobs on ``engine``'s fleet, oldest first (a job whose engine is not known yet is
        on none: the sweep learns it within seconds)."""
        return [job for job, on in self.running.items() if on == engine]

    async def state_of(self, job_id: str) -> JobState:
        """A job's state as the loop reads it (the assembler's checkpoint, or its log)."""
        return await self._state(job_id, {})

    async def _state(self, job_id: str, events: dict[int, Event]) -> JobState:
        """The job's state: the assembler's checkpoint with the segment events just received folded in.

        A checkpoint a little behind the log is enough: the commands before the last one known
        released count as released, and one released again is the same message id. Only a job
        without a checkpoint yet (its first events) is folded from its log.
        """
        self.kv = self.kv or await checkpoints(self.js)
        tracked, _ = await checkpointed(self.js, self.kv, job_id, self.key)
        for seq in sorted(events):
            if holds_ticket(events[seq], self.key):
                tracked.apply(events[seq], seq)
        return tracked.state

    async def is_stopped(self, job_id: str) -> bool:
        """Whether the job's last word is a pause or a cancellation, not a resume: the checkpoint may
        not have folded it yet, and a paused job must get nothing more (three direct reads)."""
        stops = [await last_message(self.js, job_id, kind) for kind in (JobPaused.KIND, JobCancelled.KIND)]
        stopped = max((message.seq or 0 for message in stops if message is not None), default=0)
        resumed = await last_message(self.js, job_id, JobResumed.KIND)
        return stopped > ((resumed.seq or 0) if resumed is not None else 0)

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
