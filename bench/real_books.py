"""Benchmark: real books from the corpus converted end to end with the default voice of their
language (Piper for English, espeak-ng for the others), through the real pipeline (nats-server,
parse, assemble, 2 tts workers), chapters 1-3 of each (the whole book where it has fewer).

    AUDIOBOOK_CORPUS_DIR=... .venv/bin/python -m bench.real_books [BOOK_ID ...]

Per book it prints: chapters converted, segments, failed segments (must be 0), audio length,
wall time, and a Whisper round trip of the first 60 s of the finished M4B in the book's
language: the word error rate against what the narrator was given to say. Books come from
tests/corpus/manifest.json; numbers are printed, never asserted (docs/books.md has a run).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import nats

from bench.common import Stack, banner, temp_folder
from events import names
from services.bus.connect import server_urls
from services.parse.formats import read_book
from services.parse.language import book_language
from services.parse.plan import plan_job
from services.parse.selection import select_chapters
from services.testing.corpus import BOOKS, locate
from services.testing.whisper import hear, word_error_rate, words
from services.voices import choose_voice, primary_language

DEFAULT = ("pg-35-timemachine-txt", "pdf-studyinscarlet-pdftex-nooutline", "md-prisonerofzenda-titlemeta",
           "pg-5323-effibriest-txt", "pg-4650-candide-epub3", "pg-2000-quijote-epub2", "ep-liberliber-pinocchio-it",
           "mobi-grabinski-ksiega-ognia-pl", "fb2-bulgakov-zapiski-yunogo-vracha-ru", "pg-11024-maxhavelaar-txt",
           "pg-3333-lusiadas-epub3", "docx-yellowwallpaper-word")
CHAPTERS = "1-3"
HEARD_S = 60.0


def said(path: Path, chapters: str) -> tuple[list[str], str, str]:
    """What the narrator is given to say, in order (after the lexicon and normalisation), the
    language, and the voice."""
    book = read_book(path, None, path.name)
    language = book_language(book).language
    book = select_chapters(replace(book, language=language), chapters)
    voice = choose_voice(language)
    plan = plan_job(book, "bench", voice, 1.0, 400)
    ordered = sorted((job for _, job in plan.jobs), key=lambda job: (job.chapter, job.index))
    return words(" ".join(p for job in ordered for p in job.paragraphs)), language, f"{voice.engine}/{voice.voice}"


async def fetch_book(url: str, job_id: str, out: Path) -> None:
    nc = await nats.connect(server_urls(url))
    try:
        store = await nc.jetstream().object_store(names.OBJECT_BUCKET)
        with open(out, "wb") as handle:
            await store.get(names.book_object(job_id), writeinto=handle)
    finally:
        await nc.close()


def main(ids: list[str]) -> None:
    folder = temp_folder("real-books")
    rows = []
    with Stack(folder, workers=2, threads=1, preload=("piper",)) as stack:
        for book_id in ids or DEFAULT:
            entry = next(e for e in BOOKS if e["id"] == book_id)
            path = locate(entry)
            if path is None:
                print(f"{book_id}: not on this machine", flush=True)
                continue
            banner(book_id)
            count = len(read_book(path, None, path.name).chapters)
            chapters = CHAPTERS if count >= 3 else f"1-{count}"
            reference, language, voice = said(path, chapters)
            run = stack.convert(path, engine="", extra={"chapters": chapters})
            m4b = folder / f"{book_id}.m4b"
            asyncio.run(fetch_book(stack.url, run.job_id, m4b))
            heard = hear(m4b, HEARD_S, primary_language(language))
            wer = word_error_rate(reference, heard.text)
            rows.append((book_id, entry["format"], language, voice, run.chapters, run.segments, run.failed_segments,
                         run.audio_s, run.wall_s, wer))
            print(f"  {run.chapters} chapters, {run.segments} segments, {run.failed_segments} failed, "
                  f"{run.audio_s / 60:.1f} min of audio in {run.wall_s:.1f} s; Whisper heard: {heard.text[:160]!r}; "
                  f"WER {wer:.2f}", flush=True)
    banner("table (markdown)")
    print("| book | format | language | voice | chapters | segments | failed | audio | wall | WER, first 60 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for book_id, kind, language, voice, read, segments, failed, audio, wall, wer in rows:
        print(f"| {book_id} | {kind} | {language} | {voice} | {read} | {segments} | {failed} | "
              f"{audio / 60:.1f} min | {wall:.0f} s | {wer:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
