"""TTS worker adapter: bind to the work queue, synthesize off the event loop, store audio.

Cache first: if the segment's content-addressed audio already exists, no model runs.
Outcomes: ack after the audio is stored and the event published; nak with backoff on
transient (NATS) errors; term plus a segment.failed event on permanent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

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
from services.bus import TRANSIENT, delivery_count, publish_event, pull_loop
from services.settings import Settings
from services.topology import checkpoints, object_store, workers_bucket
from services.tracing import process_span, span
from services.tts.catalog import UnknownVoiceError, VoiceInfo, resolve_voice
from services.tts.engines import Engine, SynthesisError, load_engine
from services.tts.render import render_segment, to_wav

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0


class EnginePool:
    """One loaded engine per voice, created on first use and reused (one worker thread)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[tuple[str, str], Engine] = {}

    def get(self, info: VoiceInfo) -> Engine:
        key = (info.engine, info.voice)
        if key not in self._engines:
            started = time.perf_counter()
            self._engines[key] = load_engine(info, self.settings.tts_threads, self.settings.use_cuda)
            log.info("loaded %s/%s in %.2fs", info.engine, info.voice, time.perf_counter() - started)
        return self._engines[key]

    def loaded(self) -> list[tuple[str, str]]:
        return list(self._engines)


class TtsWorker:
    def __init__(self, js: JetStreamContext, store: ObjectStore, kv: KeyValue, settings: Settings,
                 nc: Client | None = None, workers: KeyValue | None = None) -> None:
        self.js, self.store, self.kv, self.settings = js, store, kv, settings
        self.nc, self.workers = nc, workers
        self.started = time.monotonic()
        self.engines = EnginePool(settings)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self.name = settings.worker_name
        self.current: str | None = None
        self.model_runs = 0  # segments this worker actually synthesized
        self.cache_hits = 0  # segments answered from existing audio

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> TtsWorker:
        return cls(js, await object_store(js), await checkpoints(js), settings, nc, await workers_bucket(js))

    def status(self) -> WorkerStatus:
        """What this worker is doing now; answered from the event loop, even mid-synthesis."""
        return WorkerStatus(
            name=self.name, state="busy" if self.current else "idle", current=self.current,
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
            await pull_loop(sub, self._handle_batch, stop)
        finally:
            beat.cancel()
            if responder is not None:
                await responder.unsubscribe()
            if self.workers is not None:
                with contextlib.suppress(*TRANSIENT):
                    await self.workers.delete(self.name)
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def _heartbeat(self, stop: asyncio.Event, every: float = 5.0) -> None:
        """Keep this worker's entry in the workers bucket fresh (it expires 30 s after the last beat)."""
        while not stop.is_set() and self.workers is not None:
            with contextlib.suppress(*TRANSIENT):
                await self.workers.put(self.name, orjson.dumps(as_payload(self.status())))
            await asyncio.sleep(every)

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            with process_span(msg.subject, msg.headers, **{"worker": self.name}):
                await self.handle(msg)

    async def handle(self, msg: Msg) -> None:
        try:
            job = decode_command(msg.data)
        except DecodeError as exc:
            log.error("dropping undecodable job on %s: %s", msg.subject, exc)
            await msg.term()
            return
        where = f"job {job.job_id} chapter {job.chapter} segment {job.index}"
        self.current = where
        try:
            if await self._cancelled(job):
                log.info("%s: job cancelled; dropping the segment", where)
                await msg.ack()
                return
            event = await self._synthesize(msg, job)
            await publish_event(self.js, event)
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
        finally:
            self.current = None

    async def _fail(self, msg: Msg, job: SynthesizeSegment, reason: str) -> None:
        await publish_event(self.js, SegmentFailed(
            job_id=job.job_id, chapter=job.chapter, index=job.index, reason=reason, worker=self.name,
            generation=job.generation,
        ))
        await msg.term()

    async def _cancelled(self, job: SynthesizeSegment) -> bool:
        """Whether the job's checkpoint says it was cancelled (in this generation)."""
        try:
            entry = await self.kv.get(job.job_id)
        except KeyNotFoundError:
            return False
        state = from_snapshot(entry.value) if entry.value else None
        return bool(state and state.status == CANCELLED and state.generation == job.generation)

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
            return cached
        info = resolve_voice(job.engine, job.voice, self.settings.voice_dirs)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        with span("tts synthesize", engine=job.engine, voice=job.voice, chars=sum(map(len, job.paragraphs))):
            future = loop.run_in_executor(self.executor, self._render, info, job)
            while True:  # keep the message ours while the model runs
                done, _ = await asyncio.wait({future}, timeout=HEARTBEAT_S)
                if done:
                    break
                await msg.in_progress()
            wav, samples, rate = future.result()
        elapsed = time.perf_counter() - started
        self.model_runs += 1
        with tempfile.TemporaryFile() as handle:
            handle.write(wav)
            handle.seek(0)
            meta = ObjectMeta(name=name, description=orjson.dumps({"samples": samples, "sample_rate": rate}).decode())
            await self.store.put(name, handle, meta=meta)
        return SegmentSynthesized(
            job_id=job.job_id, chapter=job.chapter, index=job.index, audio_object=name,
            samples=samples, sample_rate=rate, cache_hit=False, worker=self.name, synth_seconds=elapsed,
            generation=job.generation, delivery=delivery_count(msg),
        )

    def _render(self, info: VoiceInfo, job: SynthesizeSegment) -> tuple[bytes, int, int]:
        """Runs in the worker thread: the only place the model is called."""
        engine = self.engines.get(info)
        audio = render_segment(engine, job)
        return to_wav(audio), int(audio.frame_count()), engine.sample_rate
