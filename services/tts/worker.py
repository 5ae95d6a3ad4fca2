"""TTS worker adapter: bind to the work queue, synthesize off the event loop, store audio.

Cache first: if the segment's content-addressed audio already exists, no model runs.
Pipelined: the worker keeps a few messages in hand, so fetching, the cache lookup, storing
audio and publishing events overlap the model's work; how many follows the measured time per
segment (two for Piper, dozens for an instant engine). The model runs in one thread
(:mod:`services.tts.batcher`), so the event loop keeps heart-beating and answering status
requests. Outcomes: ack after the audio is stored and the event published; nak with backoff
on transient (NATS) errors; term plus a segment.failed event on permanent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import time
from dataclasses import replace
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import KeyNotFoundError, ObjectNotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import names
from events.codec import DecodeError, decode_command
from events.projection import CANCELLED, from_snapshot
from events.types import SegmentFailed, SegmentSynthesized, SynthesizeSegment, WorkerStatus, as_payload
from services.bus import TRANSIENT, delivery_count, fetched, publish_event
from services.settings import Settings
from services.topology import checkpoints, object_store, workers_bucket
from services.tracing import process_span, span
from services.tts.batcher import Batcher, EnginePool
from services.tts.catalog import UnknownVoiceError, resolve_voice
from services.tts.engines import SynthesisError

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
IO_COVER_S = 0.25  # keep enough segments in hand to cover this much round-trip time
MAX_IN_HAND = 64
CANCEL_CHECK_S = 1.0  # how long a "not cancelled" answer is trusted
STORE_RETRY_S = 30.0  # how long fresh audio is kept trying to reach the object store


def in_hand(seconds_per_segment: float | None, batch_size: int) -> int:
    """How many messages to hold: one in the model plus enough to hide I/O (pure)."""
    if seconds_per_segment is None:
        wanted = 2
    else:
        wanted = 1 + math.ceil(IO_COVER_S / max(seconds_per_segment, IO_COVER_S / MAX_IN_HAND))
    return max(2, 2 * batch_size, min(wanted, MAX_IN_HAND))


class TtsWorker:
    def __init__(self, js: JetStreamContext, store: ObjectStore, kv: KeyValue, settings: Settings,
                 nc: Client | None = None, workers: KeyValue | None = None) -> None:
        self.js, self.store, self.kv, self.settings = js, store, kv, settings
        self.nc, self.workers = nc, workers
        self.started = time.monotonic()
        self.engines = EnginePool(settings)
        self.batcher = Batcher(self.engines)
        self.name = settings.worker_name
        self.current: dict[int, str] = {}  # id of each message in hand -> what it is
        self.model_runs = 0  # segments this worker actually synthesized
        self.cache_hits = 0  # segments answered from existing audio
        self.seconds_per_segment: float | None = None  # moving average of model time per segment
        self._not_cancelled: dict[tuple[str, int], float] = {}

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> TtsWorker:
        return cls(js, await object_store(js), await checkpoints(js), settings, nc, await workers_bucket(js))

    def status(self) -> WorkerStatus:
        """What this worker is doing now; answered from the event loop, even mid-synthesis."""
        current = next(iter(self.current.values()), None)
        return WorkerStatus(
            name=self.name, state="busy" if current else "idle", current=current,
            model_runs=self.model_runs, cache_hits=self.cache_hits,
            uptime_s=round(time.monotonic() - self.started, 1), threads=self.settings.tts_threads,
            device="cuda" if self.settings.use_cuda else "cpu",
            voices_loaded=tuple(f"{e}/{v}" for e, v in self.engines.loaded()),
        )

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.js.pull_subscribe_bind(durable=names.TTS_CONSUMER, stream=names.SYNTH_STREAM)
        responder = None
        if self.nc is not None:
            async def reply(msg: Msg) -> None:
                await msg.respond(orjson.dumps(as_payload(self.status())))

            responder = await self.nc.subscribe(names.WORKER_STATUS_SUBJECT, cb=reply)
        beat = asyncio.create_task(self._heartbeat(stop))
        log.info("tts worker %s ready (%d engine threads)", self.name, self.settings.tts_threads)
        try:
            await self._consume(sub, stop)
        finally:
            beat.cancel()
            if responder is not None:
                await responder.unsubscribe()
            if self.workers is not None:
                with contextlib.suppress(*TRANSIENT):
                    await self.workers.delete(self.name)
            self.batcher.close()

    async def _consume(self, sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        """Keep ``in_hand()`` messages in progress; fetch more as they finish."""
        stopping = asyncio.create_task(stop.wait())
        fetching: asyncio.Task[list[Msg]] | None = None
        handling: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                room = in_hand(self.seconds_per_segment, self.engines.largest_batch()) - len(handling)
                if room > 0 and fetching is None:
                    fetching = asyncio.create_task(sub.fetch(room, timeout=1.0))
                waits: set[asyncio.Future[Any]] = {stopping, *handling}
                if fetching is not None:
                    waits.add(fetching)
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                handling -= done  # type: ignore[arg-type]
                if fetching is not None and fetching in done:
                    msgs, fetching = await fetched(fetching, stop), None
                    handling.update(asyncio.create_task(self._handle_one(m)) for m in msgs)
        finally:
            stopping.cancel()
            if fetching is not None:
                fetching.cancel()
            for task in handling:  # unstarted segments go back to the queue for other workers
                task.cancel()
            await asyncio.gather(*handling, return_exceptions=True)

    async def _handle_one(self, msg: Msg) -> None:
        try:
            with process_span(msg.subject, msg.headers, **{"worker": self.name}):
                await self.handle(msg)
        except TRANSIENT as exc:  # e.g. the server restarting mid-message: it will be redelivered
            log.warning("lost contact while handling %s (%s); it will be redelivered", msg.subject, exc)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(msg.nak(), timeout=1.0)
            raise
        except Exception:  # a bug must not kill the worker; the message is redelivered after ack_wait
            log.exception("unexpected error handling %s", msg.subject)
        finally:
            self.current.pop(id(msg), None)

    async def _heartbeat(self, stop: asyncio.Event, every: float = 5.0) -> None:
        """Keep this worker's entry in the workers bucket fresh (it expires 30 s after the last beat)."""
        while not stop.is_set() and self.workers is not None:
            with contextlib.suppress(*TRANSIENT):
                await self.workers.put(self.name, orjson.dumps(as_payload(self.status())))
            await asyncio.sleep(every)

    async def handle(self, msg: Msg) -> None:
        try:
            job = decode_command(msg.data)
        except DecodeError as exc:
            log.error("dropping undecodable job on %s: %s", msg.subject, exc)
            await msg.term()
            return
        where = f"job {job.job_id} chapter {job.chapter} segment {job.index}"
        self.current[id(msg)] = where
        try:
            if await self._cancelled(job):
                log.info("%s: job cancelled; dropping the segment", where)
                await msg.ack()
                return
            event = await self._synthesize(msg, job)
            await publish_event(self.js, event)
            for chapter, index in job.duplicates:  # the same audio, at the book's other positions
                await publish_event(self.js, replace(event, chapter=chapter, index=index, cache_hit=True,
                                                     synth_seconds=0.0))
            await msg.ack()
        except (SynthesisError, UnknownVoiceError) as exc:
            log.error("%s: permanent failure: %s", where, exc)
            await self._fail(msg, job, str(exc))
        except TRANSIENT as exc:
            if delivery_count(msg) >= self.settings.max_deliver:
                await self._fail(msg, job, f"gave up after {delivery_count(msg)} attempts: {exc}")
            else:
                delay = min(30.0, 2.0 ** delivery_count(msg))
                log.warning("%s: transient failure (%s); retry in %.0fs", where, exc, delay)
                await msg.nak(delay=delay)

    async def _fail(self, msg: Msg, job: SynthesizeSegment, reason: str) -> None:
        for chapter, index in job.positions():
            await publish_event(self.js, SegmentFailed(
                job_id=job.job_id, chapter=chapter, index=index, reason=reason, worker=self.name,
                generation=job.generation,
            ))
        await msg.term()

    async def _cancelled(self, job: SynthesizeSegment) -> bool:
        """Whether the job's checkpoint says it was cancelled (in this generation).

        A "no" is trusted for a second, so a fast engine does not read the checkpoint per segment.
        """
        key = (job.job_id, job.generation)
        if self._not_cancelled.get(key, 0.0) > time.monotonic():
            return False
        try:
            entry = await self.kv.get(job.job_id)
        except KeyNotFoundError:
            return False
        state = from_snapshot(entry.value) if entry.value else None
        cancelled = bool(state and state.status == CANCELLED and state.generation == job.generation)
        if not cancelled:
            self._not_cancelled[key] = time.monotonic() + CANCEL_CHECK_S
        return cancelled

    async def _store(self, name: str, data: bytes, meta: ObjectMeta) -> None:
        """Store fresh audio, riding out a short server outage: model time is not thrown away."""
        deadline = time.monotonic() + STORE_RETRY_S
        while True:
            try:
                await self.store.put(name, io.BytesIO(data), meta=meta)
                return
            except TRANSIENT as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("storing %s failed (%s); retrying", name, exc)
                await asyncio.sleep(0.5)

    def _measured(self, seconds: float) -> None:
        previous = self.seconds_per_segment
        self.seconds_per_segment = seconds if previous is None else 0.8 * previous + 0.2 * seconds

    async def _cached(self, msg: Msg, job: SynthesizeSegment, name: str) -> SegmentSynthesized | None:
        try:
            info = await self.store.get_info(name)
        except ObjectNotFoundError:
            return None
        meta = orjson.loads(info.description or "{}")
        if "samples" not in meta:
            return None
        return SegmentSynthesized(
            job_id=job.job_id, chapter=job.chapter, index=job.index, audio_object=name,
            samples=meta["samples"], sample_rate=meta["sample_rate"], cache_hit=True, worker=self.name,
            generation=job.generation, delivery=delivery_count(msg),
        )

    async def _synthesize(self, msg: Msg, job: SynthesizeSegment) -> SegmentSynthesized:
        name = names.audio_object(job.cache_key)
        cached = await self._cached(msg, job, name)
        if cached:
            self.cache_hits += 1
            self._measured(0.0)
            return cached
        info = resolve_voice(job.engine, job.voice, self.settings.voice_dirs)
        with span("tts synthesize", engine=job.engine, voice=job.voice, chars=sum(map(len, job.paragraphs))):
            rendering = asyncio.ensure_future(self.batcher.render(info, job))
            try:
                while True:  # keep the message ours while it waits for and runs in the model
                    done, _ = await asyncio.wait({rendering}, timeout=HEARTBEAT_S)
                    if done:
                        break
                    await msg.in_progress()
            finally:
                rendering.cancel()
            rendered = rendering.result()
        self.model_runs += 1
        self._measured(rendered.seconds)
        meta = ObjectMeta(name=name, description=orjson.dumps(
            {"samples": rendered.samples, "sample_rate": rendered.sample_rate}).decode())
        await self._store(name, rendered.aac, meta)
        return SegmentSynthesized(
            job_id=job.job_id, chapter=job.chapter, index=job.index, audio_object=name,
            samples=rendered.samples, sample_rate=rendered.sample_rate, cache_hit=False, worker=self.name,
            synth_seconds=rendered.seconds, generation=job.generation, delivery=delivery_count(msg),
        )
