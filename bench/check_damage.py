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
from dataclasses import replace
from pathlib import Path

from bench.common import BOOKS, banner, temp_folder
from services.check.hearing import listen, load_model, packaged_model
from services.check.judge import judge
from services.engines.damage import KINDS, damage_pcm, damage_text
from services.parse.formats import read_book
from services.parse.plan import plan_job
from services.tts.engines import load_engine
from services.tts.render import render_segments, to_aac
from services.voices import resolve_voice

SHELF = ("epub/pg84_frankenstein_epub2-ncx.epub", "epub/alice_epub3-nav-only_epubjs.epub",
         "epub/se_jane-austen_unknown-novel.epub", "other/alice_excerpt.docx", "other/alice_excerpt.pdf",
         "other/pg84_frankenstein_cp1252_crlf.txt")


def main(per_book: int = 12, seed: int = 7) -> None:
    banner("check: clean and damaged Piper segments, heard by Whisper base")
    rng = random.Random(seed)
    info = resolve_voice("piper", None)
    engine = load_engine(info, 2, False, "", 0.0)
    model = load_model(packaged_model(temp_folder("check")), threads=2)
    counts: dict[str, list[int]] = {}
    audio_s = cpu_s = 0.0
    for relative in SHELF:
        book = read_book(BOOKS / relative)
        language = book.language or "en"
        jobs = [job for _, job in plan_job(book, "jbench", info, 1.0, 400).jobs if any(job.paragraphs)]
        for job in rng.sample(jobs, min(per_book, len(jobs))):
            for kind in ("clean", *KINDS):
                said = list(job.paragraphs) if kind == "clean" else damage_text(list(job.paragraphs), kind, rng)
                pcm = render_segments(engine, [replace(job, paragraphs=tuple(said))])[0]
                aac, _ = to_aac(pcm if kind == "clean" else damage_pcm(pcm, kind), engine.sample_rate)
                started = time.process_time()
                heard = listen(model, aac)
                cpu_s += time.process_time() - started
                audio_s += heard.seconds
                verdict = judge("\n\n".join(job.paragraphs), language, heard, job.speed,
                                job.pause_after_ms / 1000)
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
