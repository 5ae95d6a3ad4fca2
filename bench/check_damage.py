"""Benchmark: how well the check hears. Real Piper segments of real books, clean and damaged on
purpose, heard by the check's listener (Whisper base, on the CPU) and judged by its rules.

    .venv/bin/python -m bench.check_damage [SEGMENTS_PER_BOOK] [SEED]

From each book of the test shelf (novels, a Standard Ebooks text, a Word file, a PDF), SEGMENTS
segments (default 12) are drawn at random and spoken by the default voice as a worker would
(levelled, AAC). Each is heard clean, then once per fault of ``services.engines.damage`` (a
clause dropped, a phrase repeated, the end cut off, another sentence, silence). Printed: the
share of clean segments flagged (false alarms), the share of each fault found, and the audio
heard per CPU second of the listener.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bench.common import BOOKS, banner, temp_folder
from events.types import SynthesizeSegment
from services.check.hearing import listen, load_model, packaged_model
from services.check.judge import judge
from services.engines.damage import KINDS, damage_pcm, damage_text
from services.parse.formats import read_book
from services.parse.plan import plan_job
from services.tts.engines import Engine, load_engine
from services.tts.render import render_segments, to_aac
from services.voices import VoiceInfo, resolve_voice

SHELF = ("epub/pg84_frankenstein_epub2-ncx.epub", "epub/alice_epub3-nav-only_epubjs.epub",
         "epub/se_jane-austen_unknown-novel.epub", "other/alice_excerpt.docx", "other/alice_excerpt.pdf",
         "other/pg84_frankenstein_cp1252_crlf.txt")


def drawn_segments(rng: random.Random, per_book: int, info: VoiceInfo) -> Iterator[tuple[str, str, SynthesizeSegment]]:
    """``per_book`` segments at random from each book of the shelf: (its file, its language, the command)."""
    for relative in SHELF:
        book = read_book(BOOKS / relative)
        jobs = [job for _, job in plan_job(book, "jbench", info, 1.0, 400).jobs if any(job.paragraphs)]
        for job in rng.sample(jobs, min(per_book, len(jobs))):
            yield relative, book.language or "en", job


def spoken(engine: Engine, job: SynthesizeSegment, fault: str, rng: random.Random) -> bytes:
    """The AAC a worker would store for ``job`` said with ``fault`` ("" or "clean": as written)."""
    if fault in ("", "clean"):
        pcm = render_segments(engine, [job])[0]
    else:
        said = damage_text(list(job.paragraphs), fault, rng)
        pcm = damage_pcm(render_segments(engine, [replace(job, paragraphs=tuple(said))])[0], fault)
    return to_aac(pcm, engine.sample_rate)[0]


def main(per_book: int = 12, seed: int = 7) -> None:
    banner("check: clean and damaged Piper segments, heard by Whisper base")
    rng = random.Random(seed)
    info = resolve_voice("piper", None)
    engine = load_engine(info, 2, False, "", 0.0)
    model = load_model(packaged_model(temp_folder("check")), threads=2)
    counts: dict[str, list[int]] = {}
    audio_s = cpu_s = 0.0
    for relative, language, job in drawn_segments(rng, per_book, info):
        for kind in ("clean", *KINDS):
            aac = spoken(engine, job, kind, rng)
            started = time.process_time()
            heard = listen(model, aac)
            cpu_s += time.process_time() - started
            audio_s += heard.seconds
            verdict = judge("\n\n".join(job.paragraphs), language, heard, job.speed, job.pause_after_ms / 1000)
            seen = counts.setdefault(kind, [0, 0])
            seen[0] += 1
            seen[1] += not verdict.ok
            if (kind == "clean") == (not verdict.ok):
                print(f"  {Path(relative).name} {job.chapter}.{job.index} {kind}: "
                      f"{verdict.reason or 'not flagged'}\n    text:  {' '.join(job.paragraphs)[:160]}"
                      f"\n    heard: {heard.text[:160]}", flush=True)
    for kind, (total, flagged) in counts.items():
        what = "false alarms" if kind == "clean" else "found"
        print(f"{kind:8} {flagged:3}/{total:<3} {what} ({flagged / total:.1%})")
    damaged = [counts[k] for k in KINDS]
    found, total = sum(f for _, f in damaged), sum(t for t, _ in damaged)
    print(f"damaged: {found}/{total} found ({found / total:.1%}); "
          f"listener: {audio_s:.0f} s of audio in {cpu_s:.0f} CPU s = {audio_s / cpu_s:.1f} s of audio per CPU s")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
