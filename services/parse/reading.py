"""Read a book and plan its job: everything the parse service does with a book's bytes.

Runs in a limited child process (``services.parse.sandbox``): it takes plain data (the
source's path, the request, what the job already knows) and returns plain data (the plan, the
cover's bytes, timings for the trace). Nothing here touches NATS.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from events.audio import Pauses
from events.names import cover_object
from events.projection import JobState
from events.requests import ConvertRequest
from services.parse.book import Book, Cover
from services.parse.formats import ReadAlongText, detect, pieces_of, read_along_text, read_book
from services.parse.language import book_language
from services.parse.lexicon import Entry
from services.parse.limits import BookLimits, SpokenBudget
from services.parse.plan import JobPlan, plan_job
from services.parse.selection import select_chapters
from services.voices import VoiceInfo, choose_voice, cloned_voice, cloning_model, engine_named, resolve_voice

log = logging.getLogger(__name__)
PARALLEL_CHARS = 200_000  # books longer than this are split into sentences on every core


@dataclass(frozen=True)
class ReadingTask:
    """What reading one book needs (picklable: it crosses into the child)."""

    path: Path
    name: str
    job_id: str
    request: ConvertRequest
    state: JobState
    generation: int
    limits: BookLimits
    voice_dirs: tuple[Path, ...]
    max_segment_chars: int
    speaker: str | None = None
    lexicon: tuple[Entry, ...] = ()
    check: str = ""  # the job's check policy


@dataclass(frozen=True)
class Reading:
    """What came of it: the plan, the cover to store, and how long each step took (ns, for spans)."""

    plan: JobPlan
    cover: Cover | None
    steps: tuple[tuple[str, int, int], ...]  # (step, start ns, end ns)
    language_note: str = ""
    read_along: ReadAlongText | None = None  # the book's text for its read-along EPUB, when asked for


def read_and_plan(task: ReadingTask) -> Reading:
    """Read the book, pick its language and voice, and plan its segments, within the book limits."""
    steps: list[tuple[str, int, int]] = []
    start = time.time_ns()
    book = read_book(task.path, task.limits, task.name)
    steps.append(("read book", start, start := time.time_ns()))
    book, voice, note = voice_for(book, task.request, task.state, task.voice_dirs, task.speaker)
    steps.append(("choose voice", start, start := time.time_ns()))
    book = select_chapters(book, task.request.chapters)
    speed = task.request.speed
    pauses = Pauses.from_spec(task.request.pauses or "")
    chars = sum(len(p) for c in book.chapters for p in c.paragraphs)
    task.limits.check_book(chars, len(book.chapters), speed)
    cover = cover_object(task.job_id, book.cover.suffix) if book.cover else None
    budget = SpokenBudget(task.limits, speed, pauses)
    pool = _pool() if chars > PARALLEL_CHARS else None
    # silence has nothing to hear: the test engine's jobs are checked only when they ask
    check = task.check if task.request.check or not engine_named(voice.engine).speaks_silence else "off"
    try:
        plan = plan_job(book, task.job_id, voice, speed, task.max_segment_chars, cover, task.generation, pool,
                        pauses, task.lexicon, budget, check)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    task.limits.check_plan(plan.parsed.total_segments)
    steps.append(("plan segments", start, start := time.time_ns()))
    read_along = None
    if task.request.read_along:
        try:
            read_along = read_along_text(task.path, detect(task.path, task.name), book, pieces_of(plan.text_map),
                                         task.job_id)
        except Exception:  # the read-along never fails a book: it comes without its EPUB (the cues remain)
            log.exception("job %s: no read-along EPUB could be made", task.job_id)
        steps.append(("mark sentences", start, time.time_ns()))
    return Reading(plan, book.cover, tuple(steps), note, read_along)


def _pool() -> ProcessPoolExecutor | None:
    """Processes for sentence splitting (spawned: no forked locks); none on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn")) if cores > 1 else None


def voice_for(book: Book, request: ConvertRequest, state: JobState, dirs: tuple[Path, ...],
              speaker: str | None = None) -> tuple[Book, VoiceInfo, str]:
    """The book in the language it is read in, the voice reading it, and a note on the language.

    A job keeps the voice it was first parsed with (a resume never mixes voices); otherwise a
    cloning model speaking as the uploaded ``speaker`` recording, or a named voice, or the best
    voice here for the language (the request's ``language``, else the book's, checked against
    its text).
    """
    if state.voice and state.chapters:
        return (replace(book, language=state.language or book.language), resolve_voice(state.engine, state.voice, dirs),
                "")
    note = ""
    if request.language:
        language = request.language
    else:
        choice = book_language(book)
        language = choice.language
        if choice.overruled or not choice.declared:
            note = (f"book {book.title!r}: declared language {choice.declared!r}, its text reads as "
                    f"{choice.detected!r} ({choice.score:.2f}): reading it as {language!r}")
    if speaker:
        voice = cloned_voice(cloning_model(request.voice, dirs), speaker)
    elif request.voice:
        voice = resolve_voice(request.engine, request.voice, dirs)
    else:
        voice = choose_voice(language, request.engine, dirs)
    return replace(book, language=language), voice, note
