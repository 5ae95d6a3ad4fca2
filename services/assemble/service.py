"""Assemble service adapter: fold events into KV checkpoints; build the book when all is done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.codec import DecodeError, decode_event
from events.projection import CANCELLED, FINAL, PARSED, JobState, apply, from_snapshot, to_snapshot
from events.types import Event, JobCompleted, JobFailed
from services.assemble.stream import StreamingBuild
from services.bus import TRANSIENT, last_event, publish_event, pull_loop
from services.jobstate import purge_job_queue, rebuild_state
from services.settings import Settings
from services.topology import checkpoints, object_store

log = logging.getLogger(__name__)
ASSEMBLY_ATTEMPTS = 3
LEASE_S = 30.0  # a build claim lasts this long unless its holder renews it
CLAIM_PREFIX = "build."


class AssembleService:
    def __init__(self, js: JetStreamContext, kv: KeyValue, store: ObjectStore, settings: Settings) -> None:
        self.js, self.kv, self.store, self.settings = js, kv, store, settings
        self.building: dict[str, asyncio.Task[None]] = {}  # one streaming build per job
        self.chores: dict[str, asyncio.Task[None]] = {}  # failure reports, queue purges
        self.finished: set[str] = set()  # built here; their completed event may still be in flight
        self.builds = 0  # books this instance encoded
        self.name = settings.worker_name

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings) -> AssembleService:
        return cls(js, await checkpoints(js), await object_store(js), settings)

    async def run(self, stop: asyncio.Event) -> None:
        await self.recover()
        sub = await self.js.pull_subscribe_bind(durable=names.ASSEMBLE_CONSUMER, stream=names.EVENTS_STREAM)
        log.info("assemble service ready")
        rechecks = asyncio.create_task(self._recheck(stop))
        try:
            await pull_loop(sub, self._handle_batch, stop, batch=256, timeout=0.5)
        finally:
            rechecks.cancel()
            for task in [*self.building.values(), *self.chores.values()]:
                task.cancel()

    async def _recheck(self, stop: asyncio.Event) -> None:
        """Now and then, look again at unfinished jobs (a builder elsewhere may have died)."""
        while not stop.is_set():
            await asyncio.sleep(LEASE_S / 2)
            try:
                await self.recover()
            except TRANSIENT as exc:
                log.warning("recheck failed: %s", exc)

    async def recover(self) -> None:
        """Finish jobs that became ready while no assembler was looking (start-up, dead builder)."""
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            return
        for key in keys:
            if key.startswith(CLAIM_PREFIX):
                continue
            state, _ = await self.load(key)
            self._decide(state)

    async def _claim(self, job_id: str) -> int | None:
        """Take (or take over an expired) build claim; the KV revision to renew it, or None."""
        key = CLAIM_PREFIX + job_id
        value = orjson.dumps({"by": self.name, "until": time.time() + LEASE_S})
        try:
            return await self.kv.create(key, value)
        except Exception as exc:  # the key exists: someone claimed it
            if "wrong last sequence" not in str(exc) and not isinstance(exc, KeyWrongLastSequenceError):
                raise
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        holder = orjson.loads(entry.value or b"{}")
        if holder.get("until", 0) > time.time() and holder.get("by") != self.name:
            log.info("job %s is being built by %s", job_id, holder.get("by"))
            return None
        try:
            return await self.kv.update(key, value, last=entry.revision)
        except KeyWrongLastSequenceError:
            return None

    async def _renew(self, job_id: str, revision: int) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            value = orjson.dumps({"by": self.name, "until": time.time() + LEASE_S})
            revision = await self.kv.update(CLAIM_PREFIX + job_id, value, last=revision)

    async def load(self, job_id: str) -> tuple[JobState, int | None]:
        """The checkpoint and its revision; rebuilt from the log when missing."""
        try:
            entry = await self.kv.get(job_id)
            if entry.value:
                return from_snapshot(entry.value), entry.revision
        except KeyNotFoundError:
            pass
        return await rebuild_state(self.js, job_id), None

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        by_job: dict[str, list[tuple[int, Event]]] = defaultdict(list)
        for msg in msgs:
            try:
                event = decode_event(msg.data)
            except DecodeError as exc:
                log.error("ignoring undecodable event on %s: %s", msg.subject, exc)
                continue
            by_job[event.job_id].append((msg.metadata.sequence.stream, event))
        try:
            for job_id, items in by_job.items():
                self._decide(await self._update(job_id, items))
        except TRANSIENT as exc:
            log.warning("checkpoint update failed (%s); events will be redelivered", exc)
            await asyncio.gather(*(m.nak(delay=1.0) for m in msgs))
            return
        await asyncio.gather(*(m.ack() for m in msgs))

    async def _update(self, job_id: str, items: list[tuple[int, Event]]) -> JobState:
        """Apply events to the checkpoint with an expected-revision write; retry on races."""
        while True:
            state, revision = await self.load(job_id)
            for seq, event in items:
                apply(state, event, seq)
            try:
                if revision is None:
                    await self.kv.create(job_id, to_snapshot(state))
                else:
                    await self.kv.update(job_id, to_snapshot(state), last=revision)
                return state
            except KeyWrongLastSequenceError:
                continue  # someone else wrote first: reload and re-apply (apply is idempotent)
            except Exception as exc:  # create() on an existing key raises a generic API error
                if "wrong last sequence" in str(exc):
                    continue
                raise

    def _decide(self, state: JobState) -> None:
        """Start, stop or report, from the folded state alone."""
        job_id = state.job_id
        if state.status in FINAL and job_id in self.building:
            self.building.pop(job_id).cancel()  # failed or cancelled while streaming
        if job_id in self.chores or job_id in self.finished:
            return
        if state.status == CANCELLED:
            self.chores[job_id] = asyncio.create_task(self._drop_queue(job_id))
        elif state.stuck:
            failures = tuple(state.failed_segments)
            reason = f"{len(failures)} segment(s) could not be synthesized; first: {failures[0][2]}"
            self.chores[job_id] = asyncio.create_task(
                self._publish_failure(job_id, reason, failures, state.generation))
        elif state.status == PARSED and job_id not in self.building:
            self.building[job_id] = asyncio.create_task(self._assemble(job_id))

    async def _drop_queue(self, job_id: str) -> None:
        try:
            dropped = await purge_job_queue(self.js, job_id)
            if dropped:
                log.info("job %s cancelled: dropped %d queued segments", job_id, dropped)
        finally:
            self.chores.pop(job_id, None)

    async def _publish_failure(
        self, job_id: str, reason: str, failures: tuple[tuple[int, int, str], ...], generation: int
    ) -> None:
        try:
            await publish_event(self.js, JobFailed(job_id=job_id, reason=reason, failed_segments=failures,
                                                   generation=generation))
        finally:
            self.chores.pop(job_id, None)

    async def _assemble(self, job_id: str) -> None:
        revision = await self._claim(job_id)
        if revision is None:
            if self.building.get(job_id) is asyncio.current_task():
                self.building.pop(job_id)
            return
        renew = asyncio.create_task(self._renew(job_id, revision))
        try:
            for attempt in range(1, ASSEMBLY_ATTEMPTS + 1):
                try:
                    if await last_event(self.js, job_id, JobCompleted.KIND):
                        self.finished.add(job_id)
                        return  # someone finished it while we waited for the claim
                    self.builds += 1
                    completed = await StreamingBuild(self.js, self.store, job_id).run()
                    await publish_event(self.js, completed)
                    self.finished.add(job_id)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("job %s: assembly attempt %d failed", job_id, attempt)
                    if attempt == ASSEMBLY_ATTEMPTS:
                        await publish_event(self.js, JobFailed(job_id=job_id, reason=f"assembly failed: {exc}"))
                    else:
                        await asyncio.sleep(2.0 * attempt)
        finally:
            renew.cancel()
            with contextlib.suppress(*TRANSIENT):  # let another assembler take over at once
                await self.kv.delete(CLAIM_PREFIX + job_id)
            if self.building.get(job_id) is asyncio.current_task():
                self.building.pop(job_id)
