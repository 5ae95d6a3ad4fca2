"""Assemble service adapter: fold events into KV checkpoints; carry out ``decide.next_steps``.

Events arrive in batches; each job's events are folded into its checkpoint with one
expected-revision write, then the pure decisions say whether to start (or stop) the job's
streaming build, report its failure or drop its queue. A build claim (a KV lease) makes
racing assemblers build once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import replace

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from events.projection import JobState, JobStatus, Tracked, to_snapshot
from events.tickets import holds_ticket
from events.types import Event, JobCompleted, JobFailed
from services.assemble import decide
from services.assemble.shelf import shelve
from services.assemble.stream import StreamingBuild
from services.bus import kv
from services.bus.consume import TRANSIENT, Decision, consume_batches
from services.bus.control import ControlPlane, ServiceState
from services.bus.ephemeral import retried
from services.bus.jobs import checkpointed, event_of
from services.bus.publish import last_event, publish_event
from services.bus.topology import checkpoints, object_store
from services.settings import Settings

log = logging.getLogger(__name__)
ASSEMBLY_ATTEMPTS = 3
CLAIM_PREFIX = "build."
MAX_CHECKPOINT_BYTES = 512 * 1024  # a snapshot of a book at every limit: 103 KB measured
KEPT_CHECKPOINTS = 32  # jobs whose last written checkpoint is kept decoded, most recent first


class CheckpointTooLarge(PermanentError):
    """The job's state does not fit in one checkpoint (never for a book within the limits)."""

    def __init__(self, reason: str, generation: int) -> None:
        super().__init__(reason)
        self.generation = generation


class AssembleService:
    def __init__(self, js: JetStreamContext, kv: KeyValue, store: ObjectStore, settings: Settings,
                 nc: Client | None, audio: ObjectStore) -> None:
        self.js, self.kv, self.store, self.settings, self.nc = js, kv, store, settings, nc
        self.audio = audio  # the segments' audio (names.AUDIO_BUCKET)
        self.building: dict[str, asyncio.Task[None]] = {}  # one streaming build per job
        self.chores: dict[str, asyncio.Task[None]] = {}  # failure reports, queue purges
        self.finished: set[tuple[str, int]] = set()  # (job, generation) built here; its completion may be in flight
        self.builds = 0  # books this instance encoded
        self.name = settings.worker_name
        # the checkpoints this instance wrote last, decoded, with their revisions: the next batch of a
        # job starts from one without reading it back (2,000 chapters: 6 ms a read). Should another
        # assembler have written since, the expected-revision write fails and the job is read again.
        self.written: dict[str, tuple[Tracked, int]] = {}

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> AssembleService:
        return cls(js, await checkpoints(js), await object_store(js), settings, nc,
                   await object_store(js, names.AUDIO_BUCKET))

    async def run(self, stop: asyncio.Event) -> None:
        await self.recover()
        sub = await self.js.pull_subscribe_bind(durable=names.ASSEMBLE_CONSUMER, stream=names.EVENTS_STREAM)
        control = ControlPlane("assemble", self.name, lambda: {
            "state": ServiceState.of(bool(self.building)), "building": sorted(self.building), "builds": self.builds})
        if self.nc is not None:
            await control.start(self.nc)
        log.info("assemble service ready")
        rechecks = asyncio.create_task(self._recheck(stop))
        try:
            await consume_batches(self.js, sub, self.handle_batch, stop, stage="assemble",
                                  destination=names.EVENTS_PREFIX, batch=256, timeout=0.5)
        finally:
            await control.stop()
            rechecks.cancel()
            for task in [*self.building.values(), *self.chores.values()]:
                task.cancel()

    async def _recheck(self, stop: asyncio.Event) -> None:
        """Now and then, look again at unfinished jobs (a builder elsewhere may have died)."""
        while not stop.is_set():
            await asyncio.sleep(decide.LEASE_S / 2)
            try:
                await self.recover()
            except TRANSIENT as exc:
                log.warning("recheck failed: %s", exc)

    async def recover(self) -> None:
        """Finish jobs that became ready while no assembler was looking (start-up, dead builder)."""
        try:
            keys = await retried(self.kv.keys, "listing checkpoints")
        except NoKeysError:
            return
        for key in keys:
            if key.startswith(CLAIM_PREFIX):
                continue
            tracked, _ = await self.load(key)
            self.act(tracked.state)

    async def load(self, job_id: str) -> tuple[Tracked, int | None]:
        """The checkpoint (state and applied stream sequence) and its revision; rebuilt from the log when missing."""
        return await checkpointed(self.js, self.kv, job_id, self.settings.command_key)

    async def handle_batch(self, msgs: list[Msg]) -> Decision:
        """Fold a batch of events into their jobs' checkpoints, then act on each job's new state."""
        by_job: dict[str, list[tuple[int, Event]]] = defaultdict(list)
        for msg in msgs:
            event = event_of(msg)
            if event is not None and not holds_ticket(event, self.settings.command_key):
                log.warning("job %s: a %s for %d.%d without its command's ticket (worker %r) is not counted",
                            event.job_id, event.KIND, getattr(event, "chapter", -1) + 1,
                            getattr(event, "index", -1) + 1, getattr(event, "worker", ""))
            elif event is not None:
                by_job[event.job_id].append((msg.metadata.sequence.stream, event))
        publish: list[Event] = []
        for job_id, items in by_job.items():
            try:
                state, answers = await self._update(job_id, items)
            except CheckpointTooLarge as exc:  # this job's state cannot be kept: it fails, the others go on
                log.error("job %s: %s", job_id, exc)
                publish.append(JobFailed(job_id=job_id, reason=str(exc), generation=exc.generation))
                continue
            if state.status == JobStatus.REJECTED:  # nothing more will happen: its checkpoint goes (the log keeps it)
                self.written.pop(job_id, None)
                await self.kv.purge(job_id)
            self.act(state)
            publish += await self._reannounce(job_id, answers)
        return Decision(publish)

    async def _update(self, job_id: str, items: list[tuple[int, Event]]) -> tuple[JobState, list[decide.Reannounce]]:
        """Apply events to the checkpoint with an expected-revision write; retry on races.

        Also returns the requests for an already finished book found among the events applied.
        """
        while True:
            kept = self.written.pop(job_id, None)
            tracked, revision = kept if kept is not None else await self.load(job_id)
            answers: list[decide.Reannounce] = []
            for seq, event in items:
                if seq > tracked.seq:
                    answers += decide.reannouncements(tracked.state.status, event)
                tracked.apply(event, seq)
            snapshot = to_snapshot(tracked)
            if len(snapshot) > MAX_CHECKPOINT_BYTES:  # bounded by design; never sent past the server's limit
                raise CheckpointTooLarge(f"the job's checkpoint would be {len(snapshot):,} bytes; the limit "
                                         f"is {MAX_CHECKPOINT_BYTES:,}", tracked.state.generation)
            written = (await kv.create(self.kv, job_id, snapshot) if revision is None
                       else await kv.update(self.kv, job_id, snapshot, revision))
            if written is not None:
                self._keep(job_id, tracked, written)
                return tracked.state, answers
            # someone else wrote first: reload and re-apply (apply is idempotent)

    def _keep(self, job_id: str, tracked: Tracked, revision: int) -> None:
        """Keep the checkpoint just written for the job's next batch (the oldest kept goes)."""
        self.written[job_id] = (tracked, revision)
        if len(self.written) > KEPT_CHECKPOINTS:
            del self.written[next(iter(self.written))]

    async def _reannounce(self, job_id: str, answers: list[decide.Reannounce]) -> list[Event]:
        """The book's completion, once more for each request that asked for a finished book."""
        if not answers:
            return []
        completed = decide.completion_of(await last_event(self.js, job_id, JobCompleted.KIND), job_id)
        if completed is None:
            return []
        return [replace(completed, request_seq=answer.request_seq) for answer in answers]

    def act(self, state: JobState) -> None:
        """Carry out the decided steps for a job (tasks of their own: the loop goes on)."""
        job_id = state.job_id
        busy = job_id in self.chores or (job_id, state.generation) in self.finished
        steps = decide.next_steps(state, building=job_id in self.building, busy=busy)
        for step in steps:
            if isinstance(step, decide.StopBuild):
                self.building.pop(job_id).cancel()
            elif isinstance(step, decide.ReportFailure):
                self.chores[job_id] = asyncio.create_task(self._chore(job_id, publish_event(self.js, step.event)))
            else:
                self.building[job_id] = asyncio.create_task(self._assemble(job_id, step.generation))

    async def _chore(self, job_id: str, work: Awaitable[object]) -> None:
        try:
            await work
        finally:
            self.chores.pop(job_id, None)

    async def _claim(self, job_id: str) -> int | None:
        """Take (or take over an expired) build claim; the KV revision to renew it, or None."""
        key = CLAIM_PREFIX + job_id
        revision = await kv.create(self.kv, key, decide.claim(self.name, time.time()))
        if revision is not None:
            return revision
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        if not decide.may_take_over(entry.value, self.name, time.time()):
            log.info("job %s is being built by %s", job_id, decide.claimant(entry.value))
            return None
        return await kv.update(self.kv, key, decide.claim(self.name, time.time()), entry.revision or 0)

    async def _renew(self, job_id: str, revision: int) -> None:
        while True:
            await asyncio.sleep(decide.LEASE_S / 3)
            renewed = await kv.update(self.kv, CLAIM_PREFIX + job_id, decide.claim(self.name, time.time()), revision)
            if renewed is None:
                log.warning("job %s: lost the build claim", job_id)
                return
            revision = renewed

    async def _deliver(self, done: JobCompleted) -> None:
        """A named user's book goes to their own store, then the completion is told."""
        await shelve(self.js, self.store, done)
        await publish_event(self.js, done)

    async def _assemble(self, job_id: str, generation: int) -> None:
        revision = await self._claim(job_id)
        if revision is None:
            if self.building.get(job_id) is asyncio.current_task():
                self.building.pop(job_id)
            return
        renew = asyncio.create_task(self._renew(job_id, revision))
        try:
            for attempt in range(1, ASSEMBLY_ATTEMPTS + 1):
                try:
                    if decide.completion_of(await last_event(self.js, job_id, JobCompleted.KIND), job_id, generation):
                        self.finished.add((job_id, generation))
                        return  # someone finished it while we waited for the claim
                    self.builds += 1
                    await StreamingBuild(self.js, self.store, self.audio, job_id, generation,
                                         self.settings.command_key).run(
                        lambda done: self._deliver(done))
                    self.finished.add((job_id, generation))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("job %s: assembly attempt %d failed", job_id, attempt)
                    if attempt == ASSEMBLY_ATTEMPTS:
                        await publish_event(self.js, JobFailed(job_id=job_id, reason=f"assembly failed: {exc}",
                                                               generation=generation))
                    else:
                        await asyncio.sleep(2.0 * attempt)
        finally:
            renew.cancel()
            with contextlib.suppress(*TRANSIENT):  # let another assembler take over at once
                await self.kv.delete(CLAIM_PREFIX + job_id)
            if self.building.get(job_id) is asyncio.current_task():
                self.building.pop(job_id)
