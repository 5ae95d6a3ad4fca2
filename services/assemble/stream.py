"""Streaming assembly: join a job's audio while it is being synthesized.

Workers store each segment as AAC in ADTS, whose frames are self-contained, so the book's
audio is the segments' bytes in reading order. As soon as a segment (and every one before it)
has landed, its audio is appended to the book; when the last one lands only a stream-copy
remux remains (chapters, tags, cover). No audio is decoded or re-encoded here, so assembly
costs I/O, not CPU, however many workers feed it. Each segment's event states its length in
samples, a whole number of AAC frames, and the frames appended are counted and checked against
it, so chapter marks are exact. Started after a restart, the same code replays the job's
history first, so it is also the recovery path. Memory stays bounded: segments pass through
the object store's chunked reads into one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, ObjectMeta, ObjectMetaOptions
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.audio import AAC_FRAME, DEFAULT_SAMPLE_RATE
from events.codec import DecodeError, decode_event
from events.errors import PermanentError
from events.tickets import holds_ticket
from events.types import (
    BookParsed,
    ChapterLoudness,
    JobCompleted,
    JobReopened,
    SegmentChecked,
    SegmentFailed,
    SegmentSynthesized,
)
from services.assemble.ffmpeg import ffmpeg_exe
from services.assemble.m4b import (
    BookTags,
    adts_frames,
    chapter_marks,
    ffmetadata,
    narrator_of,
    remux_command,
    write_extra_tags,
)
from services.assemble.meter import LoudnessMeter
from services.assemble.overlay import ChapterAudio, overlay_epub
from services.assemble.readalong import Cue, TextMap, segment_cues, text_map_of, webvtt_of
from services.assemble.takes import Heard, Takes, chosen, heard_of, quality_of
from services.bus.ephemeral import download_object, read_audio, read_object, retried
from services.bus.jobs import event_of
from services.bus.publish import last_message
from services.bus.tracing import context_of, span
from services.scratch import scratch_folder

log = logging.getLogger(__name__)
STALL_S = 20.0  # waiting this long for any segment event: follow the log again
PREFETCH = 16  # segment downloads in flight ahead of the one being appended
BIG_CHUNKS = ObjectMetaOptions(max_chunk_size=512 * 1024)  # a book is stored in fewer round trips
# AAC frames of digital silence take about 11 bytes; speech at 64 kb/s about 370. A segment under
# this many bytes a frame is silence all through, and a chapter of nothing else is not metered.
SILENT_FRAME_BYTES = 24
METER_STRETCH_S = 120.0  # a long chapter is metered in stretches of about this much audio (meter.py)


class AssemblyError(PermanentError):
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
        await download_object(store, name, handle)
    return path


async def _fetch(js: JetStreamContext, store: ObjectStore, name: str) -> bytes:
    return await read_object(js, store, names.OBJECT_BUCKET, name)


class StreamingBuild:
    """Builds one job's M4B; ``run()`` returns its completion event when the book is stored.

    It follows the job's ``segment.synthesized`` events through an ordered consumer. If none
    arrives for ``STALL_S`` while it waits, the consumer is made again from the last event
    seen: on a cluster, the node holding it may be gone (and nats-py's own reset can fail).
    """

    def __init__(self, js: JetStreamContext, store: ObjectStore, audio: ObjectStore, job_id: str,
                 generation: int = 0, command_key: str | None = None) -> None:
        self.js, self.store, self.audio, self.job_id, self.generation = js, store, audio, job_id, generation
        self.command_key = command_key  # a segment event counts only with its command's ticket (events.tickets)
        self.positions: dict[tuple[int, int], Takes] = {}  # not placed yet: their takes and verdicts
        self.floors: dict[tuple[int, int], int] = {}  # retaken positions: the first take the book may hold
        self.reopened = 0  # the generation of the job's last reopening (0: never reopened)
        self.texts: TextMap | None = None  # the book's sentences by segment (texts/<job>.json), for the read-along
        self.cues: list[Cue] = []
        self.unaligned = 0  # paragraph pieces whose cue could not be timed sentence by sentence
        # each chapter's audio in the book's ADTS file: [first byte, end byte, first sample, samples]
        self.chapter_audio: dict[int, list[int]] = {}
        self.heard: list[Heard] = []  # what the check heard of the placed segments
        self.wake = asyncio.Event()
        self.last_seq = 0
        self.sub: JetStreamContext.PushSubscription | None = None

    async def _on_event(self, msg: Msg) -> None:
        self.last_seq = max(self.last_seq, msg.metadata.sequence.stream)
        event = event_of(msg)
        if event is not None and not holds_ticket(event, self.command_key):
            return  # not from a worker given that segment (the fold refuses it too, and says so)
        if isinstance(event, SegmentSynthesized):
            self._takes(event.chapter, event.index).heard[event.take] = event
        elif isinstance(event, SegmentChecked):
            self._takes(event.chapter, event.index).verdicts[event.take] = event
        elif (isinstance(event, SegmentFailed) and (event.chapter, event.index) in self.positions
              and event.generation >= self.reopened):
            self.positions[(event.chapter, event.index)].given_up = True  # a retake failed: no other comes
        else:
            return
        self.wake.set()

    def _takes(self, chapter: int, index: int) -> Takes:
        key = (chapter, index)
        if key not in self.positions:
            self.positions[key] = Takes(floor=self.floors.get(key, 0))
        return self.positions[key]

    async def _read_text_map(self) -> None:
        """The book's text by segment, if parse kept it (a job planned before it did: no read-along)."""
        try:
            data = await _fetch(self.js, self.store, names.text_object(self.job_id))
        except ObjectNotFoundError:
            return
        self.texts = text_map_of(data, self.job_id)

    def _cue(self, event: SegmentSynthesized, offset: int) -> None:
        if self.texts is not None:
            cues, unaligned = segment_cues(event, offset, self.texts.pieces(event.chapter, event.index))
            self.cues += cues
            self.unaligned += unaligned

    async def _read_reopening(self) -> None:
        """The takes a person asked for, from the job's last ``job.reopened`` (it lists them all)."""
        message = await last_message(self.js, self.job_id, JobReopened.KIND)
        try:
            event = decode_event(message.data or b"") if message is not None else None
        except DecodeError:
            event = None
        if isinstance(event, JobReopened) and event.job_id == self.job_id:
            self.floors, self.reopened = event.floors(), event.generation

    async def _follow(self) -> None:
        """(Re)subscribe to the job's segment events, from the one after the last seen."""
        await self._unfollow()
        config = (ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.last_seq + 1)
                  if self.last_seq else ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        subject = names.event_subject(self.job_id, "segment.*")  # synthesized, checked, failed
        self.sub = await retried(lambda: self.js.subscribe(subject, cb=self._on_event, ordered_consumer=True,
                                                           config=config), f"following {subject}")

    async def _unfollow(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):  # the old consumer may be on a node that is gone
                await self.sub.unsubscribe()
            self.sub = None

    def _ready(self, key: tuple[int, int]) -> SegmentSynthesized | None:
        """The take to place at ``key`` if it is known yet (:func:`takes.chosen`)."""
        takes = self.positions.get(key)
        return chosen(takes) if takes is not None else None

    async def _next(self, key: tuple[int, int]) -> SegmentSynthesized:
        while (event := self._ready(key)) is None:
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), STALL_S)
            except TimeoutError:
                log.info("job %s: no segment event for %.0f s; following again from #%d",
                         self.job_id, STALL_S, self.last_seq + 1)
                await self._follow()
        heard = heard_of(self.positions.pop(key), event)
        if heard is not None:
            self.heard.append(heard)
        return event

    async def run(self, announce: Callable[[JobCompleted], Awaitable[None]]) -> JobCompleted:
        """Build and store the book, then ``announce`` its completion, all in the book's trace.

        The build's span continues the trace of the job's ``book.parsed`` event, so the
        streaming assembly, the remux and the completion join the request's trace.
        """
        message = await last_message(self.js, self.job_id, BookParsed.KIND)
        if message is None:
            raise AssemblyError(f"job {self.job_id} has no book.parsed event")
        parsed = decode_event(message.data or b"")
        if not isinstance(parsed, BookParsed) or parsed.job_id != self.job_id:
            raise AssemblyError(f"job {self.job_id}: its book.parsed record is not one")
        attributes: dict[str, str | int] = {"audiobook.job_id": self.job_id,
                                            "audiobook.segments": parsed.total_segments,
                                            "audiobook.chapters": len(parsed.chapters)}
        with span("assemble book", attributes, parent=context_of(message.headers)):
            await self._read_reopening()  # before any take is placed
            await self._read_text_map()
            await self._follow()
            try:
                with scratch_folder("assemble") as tmp:
                    completed = await self._build(parsed, Path(tmp))
            finally:
                await self._unfollow()
            await announce(completed)
            return completed

    async def _build(self, parsed: BookParsed, folder: Path) -> JobCompleted:
        order = [(c.index, i) for c in parsed.chapters for i in range(c.segments)]
        samples: dict[int, int] = dict.fromkeys((c.index for c in parsed.chapters), 0)
        rates: set[int] = set()
        audio = folder / "audio.aac"
        fetches: dict[int, asyncio.Task[bytes]] = {}
        meter = LoudnessMeter(ffmpeg_exe(), audio)
        written = stretch_start = stretch_samples = placed = 0  # placed: samples of the book so far
        sounding = False  # has this stretch a segment that is not digital silence?
        try:
            with open(audio, "wb", buffering=0) as book:
                for position, key in enumerate(order):
                    event = await self._next(key)
                    if position not in fetches:
                        fetches[position] = asyncio.create_task(read_audio(self.js, self.audio, event.audio_object,
                                                                           earlier=self.store))
                    for ahead in range(position + 1, min(position + PREFETCH, len(order))):
                        if ahead not in fetches and (coming := self._ready(order[ahead])) is not None:
                            fetches[ahead] = asyncio.create_task(read_audio(self.js, self.audio, coming.audio_object,
                                                                            earlier=self.store))
                    data = await fetches.pop(position)
                    frames = adts_frames(io.BytesIO(data))
                    if frames * AAC_FRAME != event.samples:
                        raise AssemblyError(f"segment {key} ({event.audio_object}) holds {frames} AAC frames; "
                                            f"its event says {event.samples} samples")
                    book.write(data)
                    self._cue(event, placed)
                    extent = self.chapter_audio.setdefault(key[0], [written, written, placed, 0])
                    extent[1], extent[3] = written + len(data), extent[3] + event.samples
                    placed += event.samples
                    written += len(data)
                    sounding = sounding or len(data) >= SILENT_FRAME_BYTES * frames
                    stretch_samples += event.samples
                    chapter_ends = position + 1 == len(order) or order[position + 1][0] != key[0]
                    if chapter_ends or stretch_samples >= METER_STRETCH_S * event.sample_rate:
                        if sounding:  # silence has no loudness to measure (the instant test engine's)
                            meter.stretch_done(stretch_start, written, event.sample_rate, key[0])
                        stretch_start, stretch_samples, sounding = written, 0, False
                    samples[key[0]] += event.samples
                    rates.add(event.sample_rate)
            if len(rates) > 1:
                raise AssemblyError(f"the segments' audio has different sample rates: {sorted(rates)}")
            return await self._finish(parsed, samples, rates.pop() if rates else DEFAULT_SAMPLE_RATE, audio, folder,
                                      meter)
        finally:
            for task in fetches.values():
                task.cancel()
            await meter.close()

    async def _finish(self, parsed: BookParsed, samples: dict[int, int], rate: int,
                      audio: Path, folder: Path, meter: LoudnessMeter) -> JobCompleted:
        lengths = [(c.title, samples[c.index]) for c in parsed.chapters if c.segments]
        marks = chapter_marks(lengths, rate)
        meta = folder / "metadata.txt"
        tags = BookTags(narrator=narrator_of(parsed.engine, parsed.voice), year=parsed.year,
                        publisher=parsed.publisher, description=parsed.description)
        meta.write_text(ffmetadata(parsed.title, parsed.author, parsed.language, marks, tags), encoding="utf-8")
        cover = await _download(self.store, parsed.cover_object, folder) if parsed.cover_object else None
        output = folder / "book.m4b"
        started = time.perf_counter()
        with span("remux", {"audiobook.job_id": self.job_id, "audiobook.chapters": len(marks)}):
            await _run(remux_command(ffmpeg_exe(), audio, meta, cover, output, parsed.language))
            await asyncio.to_thread(write_extra_tags, output, tags)
        remuxed = time.perf_counter()
        name = names.book_object(self.job_id)
        size = output.stat().st_size
        with open(output, "rb") as handle:
            await self.store.put(name, handle, meta=ObjectMeta(name=name, options=BIG_CHUNKS))
        seconds = sum(n for _, n in lengths) / rate
        read_along = await self._store_read_along(rate)
        read_along_book, unmarked = await self._store_read_along_book(rate, audio, folder)
        measuring = time.perf_counter()
        loudness = await meter.result()  # the stretches measured last open the audio only now (it goes with the folder)
        waited = time.perf_counter() - measuring
        log.info("job %s: stored %s (%.0f s of audio, %d chapters, %d bytes; remux %.1f s, store %.1f s; %s, "
                 "waited %.2f s for the meter)", self.job_id, name, seconds, len(marks), size, remuxed - started,
                 measuring - remuxed, f"{loudness.lufs:.1f} LUFS, true peak {loudness.true_peak_dbtp:.1f} dBTP, "
                 f"range {loudness.range_lu:.1f} LU" if loudness else "loudness not measured", waited)
        return JobCompleted(job_id=self.job_id, output_object=name, seconds=seconds, size=size, chapters=len(marks),
                            loudness_lufs=loudness.lufs if loudness else None,
                            true_peak_dbtp=loudness.true_peak_dbtp if loudness else None,
                            loudness_range_lu=loudness.range_lu if loudness else None,
                            chapter_loudness=tuple(ChapterLoudness(c.chapter, c.lufs, c.range_lu)
                                                   for c in loudness.chapters) if loudness else (),
                            quality=quality_of(self.heard), generation=self.generation,
                            read_along_object=read_along, read_along_unaligned=self.unaligned,
                            read_along_book=read_along_book, read_along_unmarked=unmarked)

    async def _store_read_along(self, rate: int) -> str:
        """The read-along cues as WebVTT beside the book (none without a text map)."""
        if not self.cues:
            return ""
        name = names.read_along_object(self.job_id)
        await self.store.put(name, webvtt_of(self.cues, rate).encode("utf-8"))
        return name

    async def _store_read_along_book(self, rate: int, audio: Path, folder: Path) -> tuple[str, int]:
        """The read-along EPUB 3 when the request asked for one (parse kept its text), and how many cues
        have no span in its text."""
        if not self.cues:
            return "", 0
        try:
            text = await _fetch(self.js, self.store, names.read_along_text_object(self.job_id))
        except ObjectNotFoundError:
            return "", 0
        with span("read-along book", {"audiobook.job_id": self.job_id, "audiobook.cues": len(self.cues)}):
            chapters = [await _chapter_audio(audio, folder, chapter, *extent)
                        for chapter, extent in sorted(self.chapter_audio.items())]
            output = folder / "read-along.epub"
            overlaid = await asyncio.to_thread(overlay_epub, text, self.cues, chapters, rate, output)
            name = names.read_along_book_object(self.job_id)
            with open(output, "rb") as handle:
                await self.store.put(name, handle, meta=ObjectMeta(name=name, options=BIG_CHUNKS))
        log.info("job %s: stored %s (%d sentences timed in %d documents; %d cues without a span)", self.job_id,
                 name, overlaid.pars, overlaid.documents, overlaid.unmarked)
        return name, overlaid.unmarked


async def _chapter_audio(audio: Path, folder: Path, chapter: int, first: int, end: int, start: int,
                         samples: int) -> ChapterAudio:
    """One chapter's audio, its bytes of the book's ADTS stream-copied into MP4."""
    raw, output = folder / f"chapter-{chapter}.aac", folder / f"chapter-{chapter}.m4a"
    with open(audio, "rb") as source, open(raw, "wb") as target:
        source.seek(first)
        left = end - first
        while left > 0 and (chunk := source.read(min(left, 1 << 20))):
            target.write(chunk)
            left -= len(chunk)
    await _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "aac", "-i", str(raw),
                "-map", "0:a", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(output)])
    raw.unlink()
    return ChapterAudio(chapter, output, start, samples)
