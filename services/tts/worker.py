"""TTS worker adapter: bind to the work queue, synthesize off the event loop, store audio.

Cache first: if the segment's content-addressed audio already exists, no model runs. The
worker recomputes the cache key from the text and voice it is asked to speak, so a command
carrying someone else's key cannot put its audio under that key. Pipelined: the kit's consume
loop keeps ``decide.in_hand()`` messages in hand, so fetching, the cache lookup, storing audio
and publishing overlap the model's work; how many follows the measured time per segment (two
for Piper, dozens for an instant engine). The model runs in one thread (:mod:`batcher`), so the
event loop keeps heart-beating and answering status requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, ObjectNotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from events import codec, names
from events.audio import cache_key, stored_audio
from events.codec import DecodeError, decode_command
from events.projection import SNAPSHOT_ERRORS, from_snapshot
from events.types import Event, SynthesizeSegment
from services.bus.consume import TRANSIENT, Consumer, Decision, Policy, delivery_count
from services.bus.control import ControlPlane, ServiceState
from services.bus.ephemeral import download_object
from services.bus.objects import object_info, put_once
from services.bus.tracing import annotate, span, timed_span
from services.bus.uploads import sha256_file
from services.settings import Settings
from services.tts import decide, loudness, render
from services.tts.batcher import Batcher, EnginePool
from services.tts.engines import SynthesisError
from services.tts.exhausted import answer_exhausted
from services.voices import (
    LISTED_ENGINES,
    VoiceInfo,
    cloned_parts,
    engine_named,
    engine_voices,
    resolve_voice,
    runnable_engines,
)

log = logging.getLogger(__name__)
CANCEL_CHECK_S = 1.0  # how long a "not cancelled" answer is trusted
STORE_RETRY_S = 30.0  # how long fresh audio is kept trying to reach the object store
RTT_EVERY_S = 10.0  # how often the round trip to the server is timed


def served_engines(settings: Settings) -> tuple[str, ...]:
    """The engines this worker serves: ``AUDIOBOOK_ENGINES``, else every engine this machine runs."""
    wanted = settings.engines or tuple(runnable_engines(settings.voice_dirs))
    unknown = [engine for engine in wanted if engine not in LISTED_ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(unknown)} in AUDIOBOOK_ENGINES; known: "
                         f"{', '.join(LISTED_ENGINES)}")
    return tuple(wanted)


def gpu_free_bytes() -> int | None:
    """Free memory of the current CUDA device, when torch is loaded and sees one (never imports torch)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return int(free)


def _warm_up() -> None:
    """What a first segment would otherwise load (the encoder, the codec's types), loaded before
    the worker takes work: a fleet's workers all begin their first segment at once."""
    render.warm_up()
    codec.warm_up()


class TtsWorker:
    def __init__(self, js: JetStreamContext, store: ObjectStore, kv: KeyValue, settings: Settings,
                 nc: Client | None = None) -> None:
        self.js, self.store, self.kv, self.settings = js, store, kv, settings
        self.nc = nc
        self.consumers: list[Consumer] = []
        self.served = served_engines(settings)
        # the voices it offers, listed once (the registry scans folders and reads configs)
        self.offered = {engine: sorted(engine_voices(engine, settings.voice_dirs)) for engine in self.served}
        self._voices: dict[tuple[str, str], VoiceInfo] = {}  # resolved once per voice, not per segment
        self.started = time.monotonic()
        self.engines = EnginePool(settings)
        self.batcher = Batcher(self.engines)
        self.name = settings.worker_name
        # id of each message in hand -> (job, chapter, index, characters of its text)
        self.current: dict[int, tuple[str, int, int, int]] = {}
        self.model_runs = 0  # segments this worker actually synthesized
        self.cache_hits = 0  # segments answered from existing audio
        self.seconds_per_segment: float | None = None  # moving average of model time per segment
        self.measurements = 0
        self.seconds_per_char: float | None = None  # moving average of model time per character
        self.char_measurements = 0
        self.cover_s = decide.IO_COVER_S  # the I/O time to hide: a segment's round trips (decide.io_cover)
        self.audio_seconds = 0.0  # audio this worker synthesized
        self.model_seconds = 0.0  # model (and encoder) time it took
        self._not_cancelled: dict[tuple[str, int], float] = {}

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> TtsWorker:
        # (made by the core: a worker may not make streams or buckets, services.bus.topology.made_by_the_core)
        return cls(js, await js.object_store(names.AUDIO_BUCKET), await js.key_value(names.CHECKPOINT_BUCKET),
                   settings, nc)

    def status(self) -> dict[str, object]:
        """What this worker is doing now; answered from the event loop, even mid-synthesis."""
        held = list(self.current.values())
        current = f"job {held[0][0]} chapter {held[0][1] + 1} segment {held[0][2] + 1}" if held else None  # 1-based
        draining = any(consumer.draining for consumer in self.consumers)
        state = ServiceState.of(bool(current), draining)
        return {
            "state": state, "current": current, "in_hand": len(held), "in_flight": [list(p[:3]) for p in held[:64]],
            "model_runs": self.model_runs, "cache_hits": self.cache_hits,
            "segments_done": self.model_runs + self.cache_hits, "audio_seconds": round(self.audio_seconds, 1),
            "model_seconds": round(self.model_seconds, 1),
            "real_time_factor": round(self.model_seconds / self.audio_seconds, 4) if self.audio_seconds else None,
            "threads": self.settings.tts_threads or 1,
            "device": ",".join(self.engines.devices()) or self.settings.compute_device(),
            "gpu_free_bytes": gpu_free_bytes(), "voices_loaded": [f"{e}/{v}" for e, v in self.engines.loaded()],
            "engines": list(self.served),
            "voices": self.offered,
        }

    def in_hand(self) -> int:
        """How many commands to hold now: enough to hide round trips, none waiting behind long work."""
        base = decide.in_hand(self.seconds_per_segment, self.engines.largest_batch(), self.cover_s)
        if self._timed():
            return decide.wanted_in_hand(base, len(self.current), self._work_ahead(),
                                         (self.seconds_per_char or 0.0) * self.settings.max_segment_chars,
                                         self.cover_s)
        if self.engines.largest_batch() > 1 or self.measurements:  # a batching engine keeps its next batch
            return base  # ready, as before; so does a worker whose segments so far were all cache hits
        return decide.wanted_in_hand(base, len(self.current), None)  # no model run yet: one at a time

    def room_in(self) -> float | None:
        """Seconds until the work in hand runs low enough to fetch the next command (None: not by
        time: the time rule does not apply, or a full hand, which opens when a segment is done)."""
        if not self._timed() or len(self.current) >= decide.in_hand(self.seconds_per_segment, 1, self.cover_s):
            return None
        return decide.room_in(self._work_ahead(), self.cover_s)

    def _timed(self) -> bool:
        """Whether the time rule sizes the hand: a one-at-a-time engine whose speed is measured."""
        return self.seconds_per_char is not None and self.engines.largest_batch() == 1

    def _work_ahead(self) -> float:
        held_s = sum(chars for *_, chars in self.current.values()) * (self.seconds_per_char or 0.0)
        return decide.work_ahead(held_s, self.batcher.running_for())

    async def run(self, stop: asyncio.Event) -> None:
        """Consume synthesis commands until ``stop`` (or until drained), answering nats micro meanwhile."""
        policy = Policy.for_ack_wait(self.settings.ack_wait_s, self.settings.max_deliver)
        await asyncio.to_thread(_warm_up)
        preloading = asyncio.create_task(self._preload())
        timing = asyncio.create_task(self._time_round_trips(stop))
        for engine in self.served:  # one queue per engine: a job reaches only workers that run it
            sub = await self.js.pull_subscribe_bind(durable=names.engine_consumer(engine), stream=names.SYNTH_STREAM)
            self.consumers.append(Consumer(self.js, sub, self.handle, stage="tts", policy=policy,
                                           give_up=self.give_up, in_hand=self.in_hand, recheck=self.room_in,
                                           attributes={"worker": self.name, "engine": engine}))
        exhausted = await self.js.pull_subscribe_bind(durable=names.EXHAUSTED_TTS_CONSUMER,
                                                      stream=names.EXHAUSTED_STREAM)
        self.consumers.append(Consumer(self.js, exhausted, lambda msg: answer_exhausted(self.js, msg, self.name),
                                       stage="tts", policy=policy, in_hand=lambda: 1,
                                       attributes={"worker": self.name}))
        control = ControlPlane("tts", self.name, self.status, verbs={"drain": self._drain})
        if self.nc is not None:
            await control.start(self.nc)
        log.info("tts worker %s ready: engines %s (%d engine threads)", self.name, ", ".join(self.served),
                 self.settings.tts_threads or 1)
        try:
            await asyncio.gather(*(consumer.run(stop) for consumer in self.consumers))
        finally:
            preloading.cancel()
            timing.cancel()
            await control.stop()
            self.batcher.close()

    async def _time_round_trips(self, stop: asyncio.Event) -> None:
        """Now and then, the round trip to the server (a PING): a worker far from the servers holds
        more in hand, so its waits on the network overlap the model's work."""
        while self.nc is not None and not stop.is_set():
            with contextlib.suppress(Exception):  # (no answer: the last measurement stands)
                self.cover_s = decide.io_cover(await self.nc.rtt())
            await asyncio.sleep(RTT_EVERY_S)

    async def _preload(self) -> None:
        """Load the voices ``AUDIOBOOK_PRELOAD`` names on the engine thread now, while the request is
        still being parsed, not on the first segment (Piper's voice: about a second of CPU), and
        the levelling's signal libraries and the voice's calibration with them (1.7 s and a few
        seconds of speech). A voice that cannot be loaded is logged
        and left for its first segment to report."""
        loop = asyncio.get_running_loop()
        for entry in self.settings.preload:
            engine, _, voice = entry.partition("/")
            if engine and engine not in self.served:
                continue
            try:
                info = resolve_voice(engine or None, voice or None, self.settings.voice_dirs)
                if info.engine not in self.served or cloned_parts(info.voice) is not None:
                    continue
                info = self._voices.setdefault((info.engine, info.voice), info)
                loaded = await loop.run_in_executor(self.batcher.executor, self.engines.get, info)
                if not engine_named(info.engine).speaks_silence:
                    await loop.run_in_executor(self.batcher.executor, loudness.warm_up)
                    # the voice's one gain, measured now rather than before its first segment
                    await loop.run_in_executor(self.batcher.executor, render.voice_level, loaded)
            except Exception as exc:  # a voice that will not load fails its own segments, with their reason
                log.info("tts worker %s did not preload %s: %s", self.name, entry, exc)

    async def _drain(self) -> None:
        log.info("tts worker %s draining: finishing %d segment(s) in hand", self.name, len(self.current))
        for consumer in self.consumers:
            consumer.drain()

    def give_up(self, msg: Msg, reason: str) -> Sequence[Event]:
        """Every position of a segment given up on is reported failed, with the reason."""
        try:
            job = decode_command(msg.data)
        except DecodeError:
            return ()  # not a command of ours: nothing to report it under
        return decide.failed(job, reason, self.name)

    async def handle(self, msg: Msg) -> Decision:
        """Skip, reuse or synthesize one segment; the events that report it."""
        job = decode_command(msg.data)
        if job.engine not in LISTED_ENGINES or msg.subject != names.synth_subject(job.engine, job.job_id, job.chapter,
                                                                                   job.index):
            raise DecodeError(f"a command for job {job.job_id} segment {job.chapter}.{job.index} on {msg.subject}")
        where = f"job {job.job_id} chapter {job.chapter} segment {job.index}"
        chars = sum(map(len, job.paragraphs))
        annotate({"audiobook.job_id": job.job_id, "audiobook.chapter": job.chapter, "audiobook.index": job.index,
                    "audiobook.characters": chars, "audiobook.engine": job.engine,
                    "audiobook.voice": job.voice, "audiobook.worker": self.name})
        self.current[id(msg)] = (job.job_id, job.chapter, job.index, chars)
        try:
            info = await self._recording(self._voice(job.engine, job.voice))
            key = cache_key(job.paragraphs, info.engine, info.voice, info.model_version, job.speed,
                            job.pause_after_ms, job.language, (job.sentence_pause_ms, job.paragraph_pause_ms))
            if key != job.cache_key:
                log.warning("%s: the command's cache key is not its content's; using %s", where, key)
            name = names.take_object(key, job.take)  # a retake has audio of its own; the first take is the cache
            is_cancelled = await self._cancelled(job)
            with span("cache lookup", {"audiobook.cache_key": key}):
                stored = None if is_cancelled else await self._stored(name)
            todo = decide.action(is_cancelled, stored)
            if isinstance(todo, decide.Skip):
                log.info("%s: job cancelled; dropping the segment", where)
                annotate({"audiobook.skipped": "cancelled"})
                return Decision()
            if isinstance(todo, decide.Reuse):
                self.cache_hits += 1
                self._measured(0.0)
                annotate({"audiobook.cache_hit": True,
                            "audiobook.audio_seconds": todo.audio.samples / todo.audio.sample_rate})
                return Decision(decide.synthesized(job, name, todo.audio, worker=self.name,
                                                   delivery=delivery_count(msg), cache_hit=True))
            rendered = await self.batcher.render(info, job)
            timed_span("synthesize", *rendered.model_ns, {"audiobook.engine": job.engine})
            timed_span("encode", *rendered.encode_ns, {"audiobook.codec": "aac"})
            self.model_runs += 1
            self._measured(rendered.seconds)
            if chars:
                self.seconds_per_char = decide.model_time_estimate(self.seconds_per_char, self.char_measurements,
                                                                   rendered.seconds / chars)
                self.char_measurements += 1
            self.model_seconds += rendered.seconds
            self.audio_seconds += rendered.samples / rendered.sample_rate
            audio = decide.StoredAudio(rendered.samples, rendered.sample_rate, rendered.spans)
            annotate({"audiobook.cache_hit": False, "audiobook.audio_seconds": audio.samples / audio.sample_rate})
            with span("store", {"audiobook.bytes": len(rendered.aac)}):
                await self._store(name, rendered.aac, audio)
            return Decision(decide.synthesized(job, name, audio, worker=self.name, delivery=delivery_count(msg),
                                               cache_hit=False, synth_seconds=rendered.seconds,
                                               takes=self._takes(job.engine)))
        finally:
            self.current.pop(id(msg), None)

    def _takes(self, engine: str) -> int:
        """How many takes a checked segment of ``engine`` may have: several for a voice that says a
        text differently each time, one for a voice that always says the same."""
        return self.settings.check_takes if engine_named(engine).varies else 1

    def _voice(self, engine: str, voice: str) -> VoiceInfo:
        """The registry's entry for a voice, looked up on its first segment and kept: the loaded
        model it names stays loaded too, so its version stays right."""
        key = (engine, voice)
        if key not in self._voices:
            self._voices[key] = resolve_voice(engine, voice, self.settings.voice_dirs)
        return self._voices[key]

    async def _recording(self, info: VoiceInfo) -> VoiceInfo:
        """A cloned voice with its reference recording, fetched once from the store and checked."""
        parts = cloned_parts(info.voice)
        if parts is None:
            return info
        sha = parts[1]
        path = self.settings.data_dir / "speakers" / f"{sha}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{sha}.{os.getpid()}.part")
            try:
                with open(partial, "wb") as handle:
                    await download_object(self.store, names.speaker_object(sha), handle)
            except ObjectNotFoundError:
                partial.unlink(missing_ok=True)
                raise SynthesisError(f"the reference recording {names.speaker_object(sha)} is not in the store") \
                    from None
            if sha256_file(partial) != sha:
                partial.unlink(missing_ok=True)
                raise SynthesisError(f"the stored reference recording {names.speaker_object(sha)} is not what "
                                     "its name says")
            partial.replace(path)
        return replace(info, speaker_wav=str(path))

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
        try:
            state = from_snapshot(entry.value or b"").state
        except SNAPSHOT_ERRORS:  # not written yet, or of an older release
            state = None
        is_cancelled = decide.cancelled(state, job)
        if not is_cancelled:
            self._not_cancelled[key] = time.monotonic() + CANCEL_CHECK_S
        return is_cancelled

    async def _stored(self, name: str) -> decide.StoredAudio | None:
        info = await object_info(self.js, names.AUDIO_BUCKET, name)
        return None if info is None else stored_audio(info.description)

    async def _store(self, name: str, data: bytes, audio: decide.StoredAudio) -> None:
        """Store fresh audio, riding out a short server outage: model time is not thrown away.
        Audio already stored under its name (another worker's) is kept: it is the same segment."""
        description = audio.description()
        deadline = time.monotonic() + STORE_RETRY_S
        while True:
            try:
                await put_once(self.js, self.store, names.AUDIO_BUCKET, name, data, description)
                return
            except TRANSIENT as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("storing %s failed (%s); retrying", name, exc)
                await asyncio.sleep(0.5)

    def _measured(self, seconds: float) -> None:
        self.seconds_per_segment = decide.model_time_estimate(self.seconds_per_segment, self.measurements, seconds)
        self.measurements += 1
