"""The model thread's feeder: segments waiting for the same voice reach the engine together.

Each worker has one engine thread. Message handlers ``await render(...)``; the batcher hands
the engine up to ``engine.batch_size`` waiting segments of one voice at a time (Piper: 1,
Coqui on a GPU: more) and answers each handler with AAC audio or the segment's own error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from events.types import SynthesizeSegment
from services.settings import Settings
from services.tts.engines import Engine, SynthesisError, load_engine
from services.tts.render import Span, decoded_spans, render_each, to_aac
from services.voices import VoiceInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    aac: bytes  # ADTS
    samples: int  # decoded length (a whole number of AAC frames)
    sample_rate: int
    seconds: float  # this segment's share of the engine call
    model_ns: tuple[int, int] = (0, 0)  # wall-clock start and end of the engine call (for traces)
    encode_ns: tuple[int, int] = (0, 0)  # and of this segment's AAC encoding
    spans: tuple[Span, ...] = ()  # where each piece of speech lies in the decoded audio (render.decoded_spans)


@dataclass
class _Waiting:
    info: VoiceInfo
    job: SynthesizeSegment
    future: asyncio.Future[Rendered]


class EnginePool:
    """One loaded engine per voice, created on first use and reused (engine thread only)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engines: dict[tuple[str, str], Engine] = {}

    def get(self, info: VoiceInfo) -> Engine:
        """The engine for ``info``, loaded on first use. A cloning model is loaded once for all its
        speakers: it is told whose recording to speak as before each batch."""
        key = (info.engine, info.model_path if info.speaker_wav else info.voice)
        if key not in self._engines:
            started = time.perf_counter()
            self._engines[key] = load_engine(info, self.settings.tts_threads or 1, self.settings.use_cuda,
                                             self.settings.device, self.settings.simulated_rtf)
            log.info("loaded %s/%s in %.2fs", info.engine, info.voice, time.perf_counter() - started)
        engine = self._engines[key]
        if info.speaker_wav:
            engine.speaker_wav = info.speaker_wav  # type: ignore[attr-defined]
        return engine

    def devices(self) -> list[str]:
        return sorted({engine.device for engine in self._engines.values()})

    def loaded(self) -> list[tuple[str, str]]:
        return list(self._engines)

    def largest_batch(self) -> int:
        return max((e.batch_size for e in self._engines.values()), default=1)


def _render(engine: Engine, jobs: list[SynthesizeSegment]) -> list[Rendered | SynthesisError]:
    """Engine thread: one engine call for the batch, then AAC per segment."""
    started, began = time.perf_counter(), time.time_ns()
    spoken = render_each(engine, jobs)
    model = (began, time.time_ns())
    out: list[Rendered | SynthesisError] = []
    for speech in spoken:
        if isinstance(speech, SynthesisError):
            out.append(speech)
            continue
        encode_start = time.time_ns()
        aac, samples = to_aac(speech.pcm, engine.sample_rate)
        out.append(Rendered(aac, samples, engine.sample_rate, 0.0, model, (encode_start, time.time_ns()),
                            decoded_spans(speech.spans, samples)))
    share = (time.perf_counter() - started) / len(jobs)
    return [r if isinstance(r, SynthesisError) else replace(r, seconds=share) for r in out]


class Batcher:
    def __init__(self, engines: EnginePool) -> None:
        self.engines = engines
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self.waiting: list[_Waiting] = []
        self.wake = asyncio.Event()
        self.batches = 0  # engine calls made
        self.busy_since: float | None = None  # when the engine began its current batch (monotonic)
        self._task: asyncio.Task[None] | None = None

    async def render(self, info: VoiceInfo, job: SynthesizeSegment) -> Rendered:
        """The segment's audio, once the engine thread gets to it (raises SynthesisError)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(info, job, future))
        self.wake.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.waiting:
                self.waiting = [w for w in self.waiting if not w.future.done()]  # handlers cancelled
                if not self.waiting:
                    break
                info = self.waiting[0].info
                try:
                    engine = await loop.run_in_executor(self.executor, self.engines.get, info)
                except Exception as exc:  # a model that cannot load fails what waits for it
                    for w in [w for w in self.waiting if w.info == info]:
                        self.waiting.remove(w)
                        w.future.set_exception(SynthesisError(f"cannot load {info.engine}/{info.voice}: {exc}"))
                    continue
                batch = [w for w in self.waiting if w.info == info][: max(1, engine.batch_size)]
                for w in batch:
                    self.waiting.remove(w)
                self.busy_since = time.monotonic()
                try:
                    results = await loop.run_in_executor(self.executor, _render, engine,
                                                            [w.job for w in batch])
                except Exception as exc:
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                    continue
                finally:
                    self.busy_since = None
                self.batches += 1
                for w, result in zip(batch, results, strict=True):
                    if w.future.done():
                        continue
                    if isinstance(result, SynthesisError):
                        w.future.set_exception(result)
                    else:
                        w.future.set_result(result)

    def running_for(self) -> float:
        """Seconds the engine has spent on its current batch (0 when idle)."""
        return 0.0 if self.busy_since is None else time.monotonic() - self.busy_since

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
