"""Turn a parsed book into the job's plan: chapter list and one synthesis job per segment (pure)."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, replace
from itertools import repeat

import orjson

from events.audio import DEFAULT_PAUSES, Pauses, cache_key
from events.checking import is_checked
from events.codec import DecodeError, decode_command, encode
from events.names import synth_subject
from events.types import BookParsed, BookWarning, ChapterInfo, SynthesizeSegment
from services.parse.book import Book
from services.parse.lexicon import Entry, speaker_for
from services.parse.limits import SpokenBudget
from services.parse.segmenter import Segment, opens_with_heading, segment_chapter
from services.spoken import normalize, numbered_heading
from services.voices import VoiceInfo, voice_language

MAX_WARNINGS, MAX_WARNING_CHARS = 50, 300  # a book.warning event stays small
MAX_TAG_CHARS, MAX_DESCRIPTION_CHARS = 200, 4000


@dataclass(frozen=True)
class JobPlan:
    parsed: BookParsed
    jobs: tuple[tuple[str, SynthesizeSegment], ...]
    warning: BookWarning | None = None
    text_map: bytes = b""  # the book's text by segment, for the read-along (:func:`text_map`)


TEXT_MAP_VERSION = 1
PLAN_VERSION = 1
Command = tuple[str, SynthesizeSegment]


def text_map(job_id: str, titles: list[str], segmented: list[list[Segment]]) -> bytes:
    """The text the book was read from, by chapter, segment and paragraph piece: for each piece,
    the chapter paragraph it is from and its sentences as the book wrote them (before a lexicon
    or numbers were spoken). Stored as ``texts/<job>.json``; the assembler writes the read-along
    cues from it and the segments' timings (``spans``)."""
    chapters = [{"title": title, "segments": [[[place, list(sentences)] for place, sentences
                                               in zip(segment.places, segment.sentences, strict=True)]
                                              for segment in segments]}
                for title, segments in zip(titles, segmented, strict=True)]
    return orjson.dumps({"v": TEXT_MAP_VERSION, "job_id": job_id, "chapters": chapters})


def segment_book(book: Book, max_chars: int, pool: Executor | None = None,
                 pauses: Pauses = DEFAULT_PAUSES) -> list[list[Segment]]:
    """Each chapter's segments; with ``pool``, chapters are split in parallel (pysbd is slow)."""
    paragraphs = [chapter.paragraphs for chapter in book.chapters]
    titles = [chapter.title for chapter in book.chapters]
    if pool is None:
        return [segment_chapter(p, book.language, max_chars, pauses, t)
                for p, t in zip(paragraphs, titles, strict=True)]
    return list(pool.map(segment_chapter, paragraphs, repeat(book.language), repeat(max_chars), repeat(pauses), titles))


def plan_job(
    book: Book, job_id: str, voice: VoiceInfo, speed: float, max_chars: int,
    cover_object: str | None = None, generation: int = 0, pool: Executor | None = None,
    pauses: Pauses = DEFAULT_PAUSES, lexicon: tuple[Entry, ...] = (), budget: SpokenBudget | None = None,
    check: str = "",
) -> JobPlan:
    """The parsed event and the (subject, command) of every segment, chapters in reading order.

    Each segment's text is what a narrator says (the reader's ``lexicon``, then ``normalize``:
    numbers, money, abbreviations ... in the book's language), after the book's own text decided
    where segments begin and end: an edit or a lexicon entry changes only the segments it touches.

    With ``pool``, chapters are split into sentences in parallel (:func:`segment_book`). With
    ``budget``, what is spoken is counted as it is planned, and planning stops past a limit.
    ``check`` is the job's check policy: the segments it picks are marked for a check worker.
    """
    chapters: list[ChapterInfo] = []
    jobs: list[tuple[str, SynthesizeSegment]] = []
    segmented = segment_book(book, max_chars, pool, pauses)
    spoken = voice_language(voice, book.language)
    say = speaker_for(lexicon, book.language)
    inner = (pauses.sentence, pauses.paragraph)
    for number, (chapter, segments) in enumerate(zip(book.chapters, segmented, strict=True)):
        chapters.append(ChapterInfo(number, chapter.title, len(segments), sum(len(s.text) for s in segments)))
        heading = opens_with_heading(chapter.title, chapter.paragraphs)
        for index, segment in enumerate(segments):
            paragraphs = tuple(normalize(say(piece), book.language) for piece in segment.paragraphs)
            if index == 0 and heading:
                paragraphs = tuple(numbered_heading(piece, book.language) for piece in paragraphs)
            if budget is not None:
                budget.add(paragraphs, segment.pause_after_ms)
            command = SynthesizeSegment(
                job_id=job_id, chapter=number, index=index, paragraphs=paragraphs,
                engine=voice.engine, voice=voice.voice, speed=speed,
                pause_after_ms=segment.pause_after_ms,
                cache_key=cache_key(paragraphs, voice.engine, voice.voice, voice.model_version, speed,
                                    segment.pause_after_ms, spoken, inner),
                generation=generation, language=spoken,
                sentence_pause_ms=pauses.sentence, paragraph_pause_ms=pauses.paragraph,
                check_language=book.language if is_checked(check, job_id, number, index) else "",
            )
            jobs.append((synth_subject(voice.engine, job_id, number, index), command))
    parsed = BookParsed(
        job_id=job_id, title=book.title, author=book.author, language=book.language,
        chapters=tuple(chapters), cover_object=cover_object, engine=voice.engine, voice=voice.voice,
        year=book.year, publisher=book.publisher[:MAX_TAG_CHARS], description=book.description[:MAX_DESCRIPTION_CHARS],
        check=check if check != "off" else "",
    )
    warning = None
    if book.warnings:
        said = [w[:MAX_WARNING_CHARS] for w in book.warnings[:MAX_WARNINGS]]
        if len(book.warnings) > MAX_WARNINGS:
            said.append(f"... and {len(book.warnings) - MAX_WARNINGS} more parts not read")
        warning = BookWarning(job_id=job_id, warnings=tuple(said), generation=generation)
    return JobPlan(parsed=parsed, jobs=tuple(merge_duplicates(jobs)), warning=warning,
                   text_map=text_map(job_id, [chapter.title for chapter in book.chapters], segmented))


def merge_duplicates(jobs: list[tuple[str, SynthesizeSegment]]) -> list[tuple[str, SynthesizeSegment]]:
    """One command per distinct audio: a segment identical to an earlier one rides along with it.

    Repeated text ("* * *", "CHAPTER I", a refrain) then costs one model run, and two workers
    never race to synthesize the same audio for one book.
    """
    first: dict[str, int] = {}
    extra: dict[int, list[tuple[int, int]]] = {}
    for position, (_, job) in enumerate(jobs):
        if job.cache_key in first:
            extra.setdefault(first[job.cache_key], []).append((job.chapter, job.index))
        else:
            first[job.cache_key] = position
    return [(subject, replace(job, duplicates=tuple(extra[position])) if position in extra else job)
            for position, (subject, job) in enumerate(jobs) if first[job.cache_key] == position]


def plan_bytes(job_id: str, generation: int, commands: list[Command]) -> bytes:
    """A job's queue plan: its commands, in the order they are released."""
    return orjson.dumps({"v": PLAN_VERSION, "job_id": job_id, "generation": generation,
                         "commands": [[subject, encode(job).decode()] for subject, job in commands]})


def plan_of(data: bytes, job_id: str) -> list[Command] | None:
    """The commands of a stored plan that is this job's (anything else: None)."""
    try:
        raw = orjson.loads(data)
        if raw.get("v") != PLAN_VERSION or raw.get("job_id") != job_id:
            return None
        commands = [(str(subject), decode_command(text.encode())) for subject, text in raw["commands"]]
    except (orjson.JSONDecodeError, DecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return commands if all(job.job_id == job_id for _, job in commands) else None
