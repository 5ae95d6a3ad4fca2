"""Build one job's M4B: replay its segment events, stream their audio through ffmpeg."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from events import names
from events.codec import decode_event
from events.types import BookParsed, JobCompleted, SegmentSynthesized
from services.assemble.m4b import chapter_marks, ffmetadata, ffmpeg_command
from services.bus import last_event, replay
from services.ffmpeg import ffmpeg_exe
from services.tracing import span

log = logging.getLogger(__name__)
PREFETCH = 8


class AssemblyError(RuntimeError):
    """The audiobook could not be built (missing audio, ffmpeg failure)."""


async def segment_audio(js: JetStreamContext, job_id: str) -> dict[tuple[int, int], SegmentSynthesized]:
    """Replay the job's log: the audio of every synthesized segment (latest event wins)."""
    found: dict[tuple[int, int], SegmentSynthesized] = {}
    for msg in await replay(js, names.EVENTS_STREAM, names.event_subject(job_id, SegmentSynthesized.KIND)):
        event = decode_event(msg.data)
        assert isinstance(event, SegmentSynthesized)
        found[(event.chapter, event.index)] = event
    return found


async def _download(store: ObjectStore, name: str, folder: Path) -> Path:
    path = folder / name.replace("/", "_")
    with open(path, "wb") as handle:
        await store.get(name, writeinto=handle)
    return path


async def _pcm_stream(store: ObjectStore, objects: list[str], folder: Path) -> AsyncIterator[bytes]:
    """PCM of each object in order, downloading a few ahead; one file on disk per prefetch slot."""
    tasks: list[asyncio.Task[Path]] = []
    for position in range(len(objects)):
        while len(tasks) < PREFETCH and position + len(tasks) < len(objects):
            tasks.append(asyncio.create_task(_download(store, objects[position + len(tasks)], folder)))
        path = await tasks.pop(0)
        with wave.open(str(path), "rb") as wav:
            data = wav.readframes(wav.getnframes())
        path.unlink(missing_ok=True)
        yield data


async def build_book(js: JetStreamContext, store: ObjectStore, job_id: str) -> JobCompleted:
    """Encode the job's audiobook into the object store and return its completion event."""
    raw = await last_event(js, job_id, BookParsed.KIND)
    if raw is None:
        raise AssemblyError(f"job {job_id} has no book.parsed event")
    parsed = decode_event(raw)
    assert isinstance(parsed, BookParsed)
    audio = await segment_audio(js, job_id)
    order = [(c.index, i) for c in parsed.chapters for i in range(c.segments)]
    missing = [key for key in order if key not in audio]
    if missing:
        raise AssemblyError(f"job {job_id}: {len(missing)} segments have no audio, first {missing[0]}")
    rates = {audio[key].sample_rate for key in order}
    if len(rates) != 1:
        raise AssemblyError(f"job {job_id}: segments have different sample rates {sorted(rates)}")
    rate = rates.pop()
    lengths = [(c.title, sum(audio[(c.index, i)].samples for i in range(c.segments))) for c in parsed.chapters]
    marks = chapter_marks(lengths, rate)
    with tempfile.TemporaryDirectory(prefix="audiobook-assemble-") as tmp:
        folder = Path(tmp)
        meta = folder / "metadata.txt"
        meta.write_text(ffmetadata(parsed.title, parsed.author, parsed.language, marks), encoding="utf-8")
        cover = None
        if parsed.cover_object:
            cover = await _download(store, parsed.cover_object, folder)
        output = folder / "book.m4b"
        with span("assemble encode", job=job_id, segments=len(order)):
            await _encode(ffmpeg_command(ffmpeg_exe(), rate, meta, cover, output, parsed.language),
                          _pcm_stream(store, [audio[key].audio_object for key in order], folder))
        name = names.book_object(job_id)
        size = output.stat().st_size
        with open(output, "rb") as handle:
            await store.put(name, handle)
    seconds = sum(samples for _, samples in lengths) / rate
    log.info("job %s: stored %s (%.0f s of audio, %d chapters, %d bytes)", job_id, name, seconds, len(marks), size)
    return JobCompleted(job_id=job_id, output_object=name, seconds=seconds, size=size, chapters=len(marks))


async def _encode(command: list[str], pcm: AsyncIterator[bytes]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    errors = asyncio.create_task(proc.stderr.read())
    try:
        async for chunk in pcm:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass
    code = await proc.wait()
    message = (await errors).decode(errors="replace").strip()
    if code != 0:
        raise AssemblyError(f"ffmpeg failed ({code}): {message[-500:]}")
