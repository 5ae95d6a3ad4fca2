"""An edit costs only what changed: a book converted once, then with one word changed, then with a
lexicon entry. Only the segments whose text changed reach the engine again; the rest are cache hits,
and their timings come with them: the read-along changes only where the text did."""

from __future__ import annotations

from pathlib import Path

import orjson
import webvtt

from events import names
from events.projection import COMPLETED
from events.types import JobAccepted, SegmentSynthesized
from services.parse.formats import read_book
from services.parse.lexicon import parse_lexicon
from services.parse.plan import plan_job
from services.testing.waiting import job_events, job_state, read_events, wait_for
from services.voices import resolve_voice
from tests.conftest import book
from tests.integration.helpers import running

EDITED = ("It was on a dreary night of November", "It was on a gloomy night of November")
LEXICON = "Elizabeth = Eliza-beth"


def _write_book(path: Path, replace: tuple[str, str] | None = None) -> Path:
    """Frankenstein's chapters 4-6 as Markdown (about 150 segments); one sentence edited if asked."""
    chapters = read_book(book("epub/pg84_frankenstein_epub2-ncx.epub")).chapters[7:10]
    text = "\n\n".join(f"# {c.title}\n\n" + "\n\n".join(c.paragraphs[1:]) for c in chapters)
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path.write_text(text, encoding="utf-8")
    return path


def _distinct_keys(path: Path, lexicon: str = "") -> set[str]:
    parsed = read_book(path, name=path.name)
    plan = plan_job(parsed, "j", resolve_voice("test", "short"), 1.0, 400, lexicon=parse_lexicon(lexicon))
    return {job.cache_key for _, job in plan.jobs}


SPANS: dict[str, tuple[tuple[int, int, int], ...]] = {}  # audio object -> where its speech lies, as first made
JOBS: list[str] = []  # the jobs converted, in order


async def _convert(js, client, request: dict[str, object]) -> tuple[int, int]:
    """Submit and wait for the job; (model runs, cache hits) of its segments. Every segment says
    where its pieces of speech lie, and a cache hit says what the model run that made it said."""
    before = {e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)}
    await client.publish("convert.request", orjson.dumps({"engine": "test", "voice": "short", **request}))

    async def accepted() -> str | None:
        new = {e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)} - before
        return new.pop() if new else None

    job = await wait_for(accepted)
    JOBS.append(job)

    async def done() -> bool:
        return (await job_state(js, job)).status == COMPLETED

    await wait_for(done, timeout=90)
    segments = [e for e in await job_events(js, job) if isinstance(e, SegmentSynthesized)]
    for event in segments:
        assert event.spans and all(0 < start < end <= event.samples for _, start, end in event.spans), event
        assert SPANS.setdefault(event.audio_object, event.spans) == event.spans, "the cache keeps the timings"
    runs = {e.audio_object: e.cache_hit for e in segments}
    return sum(not hit for hit in runs.values()), sum(runs.values())


async def test_one_word_and_one_lexicon_entry_cost_only_their_segments(js, client, settings) -> None:
    JOBS.clear()
    original = _write_book(settings.input_dir / "frankenstein.md")
    edited = _write_book(settings.input_dir / "frankenstein-edited.md", EDITED)
    first = _distinct_keys(original)
    edit_changes = len(_distinct_keys(edited) - first)
    entry_changes = len(_distinct_keys(original, LEXICON) - first)
    assert edit_changes == 1 and 5 <= entry_changes < len(first) // 4
    async with running(["parse", "tts", "assemble"], settings):
        runs, hits = await _convert(js, client, {"source": original.name})
        assert runs == len(first) and hits == 0
        runs, hits = await _convert(js, client, {"source": edited.name})
        assert (runs, hits) == (1, len(first) - 1)
        runs, hits = await _convert(js, client, {"source": original.name, "lexicon": LEXICON})
        assert (runs, hits) == (entry_changes, len(first) - entry_changes)
        runs, hits = await _convert(js, client, {"source": original.name, "chapters": "1-3"})
        assert (runs, hits) == (0, len(first)), "another job of the same book: all from the cache"
    cues = [await _cues(js, job) for job in JOBS]
    assert cues[3] == cues[0], "a book built from cached audio has the timings of the one that made it"
    changed = [(a, b) for a, b in zip(cues[0], cues[1], strict=True) if a != b]
    assert [(a[0], a[1]) for a, _ in changed] == [(b[0], b[1]) for _, b in changed], "no cue moves"
    assert len(changed) == 1 and EDITED[1] in changed[0][1][2], "after a one-word edit, one cue says it"


async def _cues(js, job: str) -> list[tuple[str, str, str]]:
    """The read-along of a job's book: (start, end, text) of each cue."""
    store = await js.object_store(names.OBJECT_BUCKET)
    text = ((await store.get(names.read_along_object(job))).data or b"").decode()
    return [(c.start, c.end, c.text) for c in webvtt.from_string(text).captions]
