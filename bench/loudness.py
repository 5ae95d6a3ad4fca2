"""Benchmark: what loudness costs. The worker's levelling against the model's time on the same
segments, and the assembler's meter against the book's length and the remux.

    .venv/bin/python -m bench.loudness [SEGMENTS]

Piper (the default voice) speaks the first SEGMENTS segments of Frankenstein (default 40);
each is levelled (one gain for the voice, measured once on its calibration passage, then the
limiter) and encoded as a worker does. The raw and the levelled segments are each joined and
measured (integrated loudness, true peak, loudness range), against each segment levelled on its
own as before. The encoded segments are then joined into one hour of audio, which is measured by
the assembler's meter and remuxed as the assembler does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import BOOKS, banner, temp_folder
from services.assemble.ffmpeg import ffmpeg_exe
from services.assemble.meter import LoudnessMeter
from services.parse.formats import read_book
from services.parse.segmenter import segment_chapter
from services.tts.engines import load_engine
from services.tts.loudness import level, loudness_lufs, true_peak_db
from services.tts.render import to_aac, voice_level
from services.voices import resolve_voice


def _measure(pcm: bytes, rate: int) -> tuple[float, float]:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) / 32768
    return loudness_lufs(samples, rate), true_peak_db(samples)


async def _meter(path: Path, chapters: list[tuple[int, int]], parallel: int, rate: int) -> tuple[float, object]:
    meter = LoudnessMeter(ffmpeg_exe(), path, parallel)
    started = time.perf_counter()
    for start, end in chapters:
        meter.stretch_done(start, end, rate)
    result = await meter.result()
    await meter.close()
    return time.perf_counter() - started, result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    engine = load_engine(resolve_voice("piper", "en_US-joe-medium"))
    chapters = read_book(BOOKS / "epub" / "pg84_frankenstein_epub2-ncx.epub").chapters
    segments = [s for c in chapters for s in segment_chapter(c.paragraphs, "en", 400, title=c.title)][:count]
    started = time.perf_counter()
    voice = voice_level(engine, "en")
    calibration = time.perf_counter() - started
    synth = levelling = encode = audio = 0.0
    before, after, encoded, raws, alone = [], [], [], [], []
    for segment in segments:
        started = time.perf_counter()
        pcm = b"".join(b"".join(chunks) for chunks in engine.speak(list(segment.paragraphs), 1.0, "en"))
        pcm += bytes(2 * (engine.sample_rate * segment.pause_after_ms // 1000))
        spoken = time.perf_counter()
        levelled = level(pcm, engine.sample_rate, voice)
        done = time.perf_counter()
        raws.append(to_aac(pcm, engine.sample_rate)[0])
        alone.append(to_aac(level(pcm, engine.sample_rate), engine.sample_rate)[0])
        aac, _ = to_aac(levelled, engine.sample_rate)
        synth, levelling = synth + spoken - started, levelling + done - spoken
        encode += time.perf_counter() - done
        audio += len(pcm) / 2 / engine.sample_rate
        before.append(_measure(pcm, engine.sample_rate))
        after.append(_measure(levelled, engine.sample_rate))
        encoded.append(aac)
    banner(f"worker: {len(segments)} segments, {audio:.0f} s of speech")
    print(f"model (Piper, one thread): {synth:7.2f} s  ({audio / synth:.1f}x real time)")
    print(f"levelling:                 {levelling:7.2f} s  ({levelling / len(segments) * 1000:.1f} ms a segment, "
          f"{levelling / synth:.1%} of the model's time)")
    print(f"AAC encoding:              {encode:7.2f} s")
    print(f"calibrating the voice:     {calibration:7.2f} s once per worker and voice ({voice})")
    spread = [round(x[0], 1) for x in before]
    print(f"loudness before: {min(spread)} to {max(spread)} LUFS, true peaks up to "
          f"{max(p for _, p in before):.1f} dBTP")
    print(f"loudness after:  {min(x[0] for x in after):.2f} to {max(x[0] for x in after):.2f} LUFS, true peaks up to "
          f"{max(p for _, p in after):.1f} dBTP")
    folder = temp_folder("loudness")
    banner("the segments joined, as AAC: dynamics kept?")
    for name, pieces in (("raw voice", raws), ("each segment alone (before)", alone), ("one gain per voice", encoded)):
        joined = folder / "joined.aac"
        joined.write_bytes(b"".join(pieces))
        _, found = asyncio.run(_meter(joined, [(0, joined.stat().st_size)], 1, engine.sample_rate))
        print(f"{name:28} {found}")
    hour = folder / "hour.aac"
    chapters = []
    with open(hour, "wb") as out:
        written = 0.0
        while written < 3600:  # a "chapter" is one pass over the segments
            start = out.tell()
            for aac in encoded:
                out.write(aac)
            chapters.append((start, out.tell()))
            written += audio
    banner(f"assembler: {written / 3600:.2f} hours of these segments, {len(chapters)} chapters")
    cores = os.cpu_count() or 1
    for parallel in sorted({1, cores}):
        seconds, measured = asyncio.run(_meter(hour, chapters, parallel, engine.sample_rate))
        print(f"meter (ebur128, 4x true peak), {parallel} at a time: {seconds:6.2f} s  ({written / seconds:.0f}x real "
              f"time) -> {measured}")
    meta = folder / "meta.txt"
    meta.write_text(";FFMETADATA1\ntitle=x\n", encoding="utf-8")
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(hour), "-f", "ffmetadata",
                    "-i", str(meta), "-map", "0:a", "-c", "copy", "-movflags", "+faststart", "-f", "mp4",
                    str(folder / "hour.m4b")], check=True)
    remux = time.perf_counter() - started
    print(f"remux (stream copy):                {remux:6.2f} s  ({written / remux:.0f}x real time)")
    workers = written / seconds / (audio / synth)
    print(f"while workers synthesize at {audio / synth:.1f}x, the meter keeps up with {workers:.0f} such workers; "
          "a book rebuilt from cached audio waits for it: "
          f"{seconds / (written / 3600):.1f} s per hour of audio, against {remux / (written / 3600):.1f} s of remux")


if __name__ == "__main__":
    main()
