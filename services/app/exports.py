"""Other shapes of a finished audiobook: parts of at most N hours, or one MP3 or Opus file per chapter.

The M4B is what the services build; these are cut from it here, by the client, with ffmpeg.
Parts are stream copies (no re-encoding: AAC frames are cut where chapters start, which are
frame boundaries) and each part keeps its chapters' marks, titles continuing from the part
before; a chapter longer than a part is cut inside and goes on as "Title (continued)". MP3
(LAME, VBR quality 4) and Opus (32 kb/s, speech) files are encoded per chapter, several at once.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from events.errors import PipelineError
from services.assemble.m4b import ChapterMark, ffmetadata

FORMATS = ("m4b", "mp3", "opus")
ENCODERS = {"mp3": ["-c:a", "libmp3lame", "-q:a", "4", "-id3v2_version", "3"],
            "opus": ["-c:a", "libopus", "-b:a", "32k", "-application", "voip"]}
UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
EDGE_S = 0.001  # past a chapter's start (marks are whole milliseconds, rounded down): its first frame
MIN_SPLIT_HOURS, MAX_SPLIT_HOURS = 0.1, 1000.0  # parts of 6 minutes to 1000 hours


@dataclass(frozen=True)
class Mark:
    title: str
    start: float  # seconds from the start of the book
    end: float


@dataclass(frozen=True)
class Part:
    number: int
    start: float
    end: float
    chapters: tuple[Mark, ...]  # times relative to the part's start


def plan_parts(marks: list[Mark], max_seconds: float) -> list[Part]:
    """Parts of at most ``max_seconds``, cut at chapter starts where one fits (pure).

    Chapters go into a part while they fit; a chapter longer than a whole part is cut inside,
    and its remainder opens the next part as "Title (continued)".
    """
    if not math.isfinite(max_seconds) or max_seconds <= 0:
        raise ValueError(f"a part must be a finite number of seconds above 0, not {max_seconds!r}")
    pieces: list[Mark] = []
    for mark in marks:
        start = mark.start
        while mark.end - start > max_seconds:
            pieces.append(Mark(mark.title if start == mark.start else f"{mark.title} (continued)", start,
                               start + max_seconds))
            start += max_seconds
        pieces.append(Mark(mark.title if start == mark.start else f"{mark.title} (continued)", start, mark.end))
    parts: list[list[Mark]] = []
    for piece in pieces:
        if parts and piece.end - parts[-1][0].start <= max_seconds:
            parts[-1].append(piece)
        else:
            parts.append([piece])
    return [Part(n, group[0].start, group[-1].end,
                 tuple(Mark(m.title, m.start - group[0].start, m.end - group[0].start) for m in group))
            for n, group in enumerate(parts, start=1)]


def file_name(number: int, total: int, title: str, suffix: str) -> str:
    """``07 - The Pool of Tears.mp3``: numbered to sort, safe on every file system."""
    width = max(2, len(str(total)))
    clean = UNSAFE.sub(" ", title).strip(" .")[:100] or "Chapter"
    return f"{number:0{width}d} - {clean}{suffix}"


class ExportError(PipelineError):
    """The audiobook could not be cut or encoded; the message says why."""


def check_split_hours(hours: float) -> float:
    """``hours`` if parts that long can be cut (MIN_SPLIT_HOURS to MAX_SPLIT_HOURS); ExportError otherwise.

    NaN, infinities, 0, negatives and slivers (``1e-9`` would plan billions of parts) are refused.
    """
    if (isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours)
            or not MIN_SPLIT_HOURS <= hours <= MAX_SPLIT_HOURS):
        raise ExportError(f"--split-hours must be a number of hours from {MIN_SPLIT_HOURS:g} "
                          f"({MIN_SPLIT_HOURS * 60:g} minutes) to {MAX_SPLIT_HOURS:g}, not {hours!r}")
    return float(hours)


@dataclass(frozen=True)
class Audiobook:
    """A finished M4B as read once: its path, chapter marks and main tags."""

    path: Path
    marks: list[Mark]
    tags: dict[str, str]


def read_audiobook(book: Path) -> Audiobook:
    """The chapter marks and main tags of an M4B (mutagen)."""
    from mutagen import MutagenError
    from mutagen.mp4 import MP4

    try:
        audio = MP4(str(book))
    except MutagenError as exc:
        raise ExportError(f"{book}: not an MP4 audiobook ({exc})") from None
    if audio.info is None:
        raise ExportError(f"{book}: not an MP4 audiobook")
    length = float(audio.info.length)
    chapters = list(audio.chapters or [])
    marks = [Mark(c.title or f"Chapter {n + 1}", float(c.start),
                  float(chapters[n + 1].start) if n + 1 < len(chapters) else length)
             for n, c in enumerate(chapters)] or [Mark(book.stem, 0.0, length)]
    tags: Any = audio.tags or {}
    first = {key: str(tags[key][0]) for key in ("©nam", "©ART", "©wrt", "©day") if tags.get(key)}
    return Audiobook(book, marks, {"title": first.get("©nam", book.stem), "artist": first.get("©ART", ""),
                                   "composer": first.get("©wrt", ""), "date": first.get("©day", "")})


def _chapter_metadata(title: str, chapters: tuple[Mark, ...]) -> str:
    """The ffmetadata of a part's chapter marks (its tags come from the book itself)."""
    marks = [ChapterMark(m.title, round(m.start * 1000), round(m.end * 1000)) for m in chapters]
    return ffmetadata(title, "", "", marks)


def _cut(ffmpeg: str, book: Path, start: float, end: float) -> list[str]:
    """ffmpeg reading ``book`` from ``start`` to ``end`` seconds (each chapter's first frame on)."""
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-ss", f"{start + EDGE_S:.3f}", "-to", f"{end + EDGE_S:.3f}", "-i", str(book)]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True)
    if result.returncode:
        raise ExportError(f"ffmpeg failed: {result.stderr.decode(errors='replace')[-300:]}")


def part_command(ffmpeg: str, book: Path, part: Part, total: int, title: str, metadata: Path,
                 output: Path) -> list[str]:
    """Stream-copy one part out of the book: its tags, its own title and chapter marks."""
    return [*_cut(ffmpeg, book, part.start, part.end),
            "-f", "ffmetadata", "-i", str(metadata), "-map", "0:a", "-map", "0:v?", "-map_metadata", "0",
            "-map_chapters", "1", "-metadata", f"title={title}", "-metadata", f"disc={part.number}/{total}",
            "-c", "copy", "-disposition:v:0", "attached_pic", "-movflags", "+faststart", "-f", "mp4", str(output)]


def chapter_command(ffmpeg: str, book: Path, mark: Mark, number: int, total: int, tags: dict[str, str],
                    kind: str, output: Path) -> list[str]:
    """Encode one chapter as MP3 (with the cover) or Opus, tagged as a track of the book."""
    cover = ["-map", "0:v?", "-c:v", "copy", "-disposition:v:0", "attached_pic"] if kind == "mp3" else ["-vn"]
    meta = {"title": mark.title, "album": tags["title"], "artist": tags["artist"], "album_artist": tags["artist"],
            "composer": tags["composer"], "date": tags["date"], "track": f"{number}/{total}", "genre": "Audiobook"}
    return [*_cut(ffmpeg, book, mark.start, mark.end),
            "-map", "0:a", *cover, "-map_metadata", "-1", "-map_chapters", "-1", *ENCODERS[kind],
            *[arg for key, value in meta.items() if value for arg in ("-metadata", f"{key}={value}")], str(output)]


Cue = tuple[float, float, str]  # start and end in seconds, the text


def cues_within(cues: list[Cue], start: float, end: float) -> list[Cue]:
    """The cues that begin inside ``start``..``end`` (seconds of the book), timed from ``start``
    and ending by ``end`` (pure): a part's or a chapter file's own read-along."""
    return [(max(0.0, a - start), min(b, end) - start, text) for a, b, text in cues
            if start - EDGE_S <= a < end - EDGE_S and min(b, end) > a]


def read_cues(vtt: Path) -> list[Cue] | None:
    """The cues of the read-along beside a book (``BOOK.vtt``), or None when there is none."""
    if not vtt.is_file():
        return None
    import webvtt

    return [(_seconds(c.start), _seconds(c.end), c.text) for c in webvtt.read(str(vtt)).captions]


def write_cues(cues: list[Cue], output: Path) -> Path:
    from services.assemble.readalong import webvtt_text

    output.write_text(webvtt_text(cues), encoding="utf-8")
    return output


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def split_parts(ffmpeg: str, book: Audiobook, hours: float) -> list[Path]:
    """``book - Part 1.m4b`` ... next to the book, each at most ``hours`` long (and ``book - Part
    1.vtt`` ... when the book has a read-along beside it); the paths written."""
    parts = plan_parts(book.marks, check_split_hours(hours) * 3600)
    cues = read_cues(book.path.with_suffix(".vtt"))  # a read-along beside the book: one per part too
    written: list[Path] = []
    for part in parts:
        output = book.path.with_name(f"{book.path.stem} - Part {part.number}.m4b")
        metadata = output.with_suffix(".ffmetadata")
        title = f"{book.tags['title']} (Part {part.number} of {len(parts)})"
        metadata.write_text(_chapter_metadata(title, part.chapters), encoding="utf-8")
        try:
            _run(part_command(ffmpeg, book.path, part, len(parts), title, metadata, output))
        finally:
            metadata.unlink(missing_ok=True)
        written.append(output)
        if cues is not None:
            written.append(write_cues(cues_within(cues, part.start, part.end), output.with_suffix(".vtt")))
    return written


def per_chapter(ffmpeg: str, book: Audiobook, kind: str, folder: Path) -> list[Path]:
    """One ``kind`` (mp3, opus) file per chapter in ``folder`` (and its read-along, when the book
    has one beside it); the paths written, in order."""
    marks = book.marks
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [folder / file_name(n, len(marks), m.title, f".{kind}") for n, m in enumerate(marks, start=1)]
    commands = [chapter_command(ffmpeg, book.path, m, n, len(marks), book.tags, kind, out)
                for n, (m, out) in enumerate(zip(marks, outputs, strict=True), start=1)]
    workers = max(1, min(len(commands), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_run, commands))
    cues = read_cues(book.path.with_suffix(".vtt"))  # a read-along beside the book: one per chapter file too
    if cues is None:
        return outputs
    return [*outputs, *(write_cues(cues_within(cues, m.start, m.end), out.with_suffix(".vtt"))
                        for m, out in zip(marks, outputs, strict=True))]

