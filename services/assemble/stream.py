"""Streaming assembly: encode a job's audio while it is being synthesized.

An ffmpeg AAC encoder is fed each segment's PCM in book order as soon as that segment (and
every one before it) is synthesized, so when the last segment lands only a stream-copy remux
remains (chapters, tags, cover). Started after a restart, the same code replays the job's
history first, so it is also the recovery path. Memory stays bounded: segments pass through
temporary files a few at a time.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import wave
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.object_store import ObjectStore

from events import names
from events.codec import decode_event
from events.types import BookParsed, JobCompleted, SegmentSynthesized
from services.assemble.m4b import chapter_marks, encode_command, ffmetadata, remux_command
from services.bus import last_event
from services.ffmpeg import ffmpeg_exe
from services.tracing import span

log = logging.getLogger(__name__)
PREFETCH = 8


class AssemblyError(RuntimeError):
    """The audiobook could not be built (missing audio, ffmpeg failure)."""


async def _run(command: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise AssemblyError(f"ffmpeg failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")


async def _download(store: ObjectStore, name: str, folder: Path) -> Path:
    path = folder / name.replace("/", "_")
    with open(path, "wb") as handle:
        await store.get(name, writeinto=handle)
    return path


def _pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


class StreamingBuild:
    """Builds one job's M4B; ``run()`` returns its completion event when the book is stored."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, job_id: str) -> None:
        self.js, self.store, self.job_id = js, store, job_id
        self.ready: dict[tuple[int, int], SegmentSynthesized] = {}
        self.wake = asyncio.Event()

    async def _on_event(self, msg: Msg) -> None:
        event = decode_event(msg.data)
        if isinstance(event, SegmentSynthesized):
            self.ready[(event.chapter, event.index)] = event
            self.wake.set()

    async def _next(self, key: tuple[int, int]) -> SegmentSynthesized:
        while key not in self.ready:
            self.wake.clear()
            await self.wake.wait()
        return self.ready[key]

    async def run(self) -> JobCompleted:
        raw = await last_event(self.js, self.job_id, BookParsed.KIND)
        if raw is None:
            raise AssemblyError(f"job {self.job_id} has no book.parsed event")
        parsed = decode_event(raw)
        assert isinstance(parsed, BookParsed)
        order = [(c.index, i) for c in parsed.chapters for i in range(c.segments)]
        sub = await self.js.subscribe(names.event_subject(self.job_id, SegmentSynthesized.KIND), cb=self._on_event,
                                      ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        try:
            with tempfile.TemporaryDirectory(prefix="audiobook-assemble-") as tmp:
                return await self._build(parsed, order, Path(tmp))
        finally:
            await sub.unsubscribe()

    async def _build(self, parsed: BookParsed, order: list[tuple[int, int]], folder: Path) -> JobCompleted:
        first = await self._next(order[0])
        rate = first.sample_rate
        audio = folder / "audio.m4a"
        encoder = await asyncio.create_subprocess_exec(
            *encode_command(ffmpeg_exe(), rate, audio), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert encoder.stdin is not None and encoder.stderr is not None
        errors = asyncio.create_task(encoder.stderr.read())
        samples: dict[tuple[int, int], int] = {}
        downloads: dict[int, asyncio.Task[Path]] = {}
        try:
            for position, key in enumerate(order):
                for ahead in range(position, min(position + PREFETCH, len(order))):
                    if ahead not in downloads and order[ahead] in self.ready:
                        downloads[ahead] = asyncio.create_task(
                            _download(self.store, self.ready[order[ahead]].audio_object, folder))
                event = await self._next(key)
                if position not in downloads:
                    downloads[position] = asyncio.create_task(_download(self.store, event.audio_object, folder))
                path = await downloads.pop(position)
                pcm, segment_rate = await asyncio.to_thread(_pcm, path)
                path.unlink(missing_ok=True)
                if segment_rate != rate:
                    raise AssemblyError(f"segment {key} is at {segment_rate} Hz, the book at {rate} Hz")
                samples[key] = len(pcm) // 2
                encoder.stdin.write(pcm)
                await encoder.stdin.drain()
            encoder.stdin.close()
            code = await encoder.wait()
        except BaseException:
            for task in downloads.values():
                task.cancel()
            if encoder.returncode is None:
                encoder.kill()
                await encoder.wait()
            raise
        if code != 0:
            raise AssemblyError(f"ffmpeg encoder failed ({code}): {(await errors).decode(errors='replace')[-500:]}")
        return await self._finish(parsed, samples, rate, audio, folder)

    async def _finish(self, parsed: BookParsed, samples: dict[tuple[int, int], int], rate: int,
                      audio: Path, folder: Path) -> JobCompleted:
        lengths = [(c.title, sum(samples[(c.index, i)] for i in range(c.segments))) for c in parsed.chapters]
        marks = chapter_marks(lengths, rate)
        meta = folder / "metadata.txt"
        meta.write_text(ffmetadata(parsed.title, parsed.author, parsed.language, marks), encoding="utf-8")
        cover = await _download(self.store, parsed.cover_object, folder) if parsed.cover_object else None
        output = folder / "book.m4b"
        with span("assemble remux", job=self.job_id, chapters=len(marks)):
            await _run(remux_command(ffmpeg_exe(), audio, meta, cover, output, parsed.language))
        name = names.book_object(self.job_id)
        size = output.stat().st_size
        with open(output, "rb") as handle:
            await self.store.put(name, handle)
        seconds = sum(n for _, n in lengths) / rate
        log.info("job %s: stored %s (%.0f s of audio, %d chapters, %d bytes)",
                 self.job_id, name, seconds, len(marks), size)
        return JobCompleted(job_id=self.job_id, output_object=name, seconds=seconds, size=size, chapters=len(marks))
