"""A 30-hour book: past 2^31 samples at 22,050 Hz (27 h), every chapter mark lands where it should.

The audio is one 10-minute segment as the workers encode it (AAC in ADTS), repeated 180 times
the way the assembler appends segments, then muxed by the assembler's own remux and tagging.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mutagen.mp4 import MP4

from events.audio import AAC_FRAME
from services.assemble.ffmpeg import ffmpeg_exe
from services.assemble.m4b import BookTags, adts_frames, chapter_marks, ffmetadata, remux_command, write_extra_tags
from services.tts.render import to_aac

RATE = 22_050
SEGMENT_S = 600


def test_a_30_hour_book_has_exact_chapter_offsets(tmp_path: Path) -> None:
    segment, samples = to_aac(bytes(SEGMENT_S * RATE * 2), RATE)
    assert samples % AAC_FRAME == 0
    per_chapter = [5 + number % 3 for number in range(30)]  # 5 to 7 segments: uneven chapters, 180 in all
    assert sum(per_chapter) == 180
    audio = tmp_path / "audio.aac"
    with open(audio, "wb") as book:
        for _ in range(sum(per_chapter)):
            book.write(segment)
    lengths = [(f"Chapter {n + 1}", count * samples) for n, count in enumerate(per_chapter)]
    total = sum(n for _, n in lengths)
    assert total > 2**31 and total / RATE > 30 * 3600
    with open(audio, "rb") as book:
        assert adts_frames(book) * AAC_FRAME == total
    marks = chapter_marks(lengths, RATE)
    meta = tmp_path / "metadata.txt"
    tags = BookTags(narrator="test voice (test)", year="1900", publisher="Nobody")
    meta.write_text(ffmetadata("Long", "Someone", "en", marks, tags), encoding="utf-8")
    output = tmp_path / "long.m4b"
    subprocess.run(remux_command(ffmpeg_exe(), audio, meta, None, output, "en"), check=True)
    write_extra_tags(output, tags)

    book = MP4(str(output))
    assert abs(book.info.length - total / RATE) < 0.1
    starts = [chapter.start for chapter in book.chapters]
    assert [chapter.title for chapter in book.chapters] == [title for title, _ in lengths]
    for mark, start in zip(marks, starts, strict=True):
        assert abs(start - mark.start_ms / 1000) < 0.002, (mark, start)
    assert starts[-1] > 28.5 * 3600  # the last chapter starts past 28.5 hours, not wrapped around
    assert book.tags is not None and book.tags.get("©nrt") == ["test voice (test)"]
    # ffmpeg reads the same marks back from the file (its chapter track, not the Nero list mutagen reads)
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(output)], capture_output=True, text=True)
    found = [float(s) for s in re.findall(r"Chapter #0:\d+: start (\d+\.\d+)", probe.stderr)]
    assert len(found) == 30
    for mark, start in zip(marks, found, strict=True):
        assert abs(start - mark.start_ms / 1000) < 0.002, (mark, start)
