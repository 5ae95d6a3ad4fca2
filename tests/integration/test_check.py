"""The check service on a real server: real Piper speech, some of it damaged on purpose, heard by Whisper.

The ``damaged`` test voice is the default Piper voice saying half of the segments wrong (a clause
dropped, a phrase repeated, the end cut off, another sentence, silence), chosen by a hash of
each segment's text: the test knows which ones, and the check must find them.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from events import names
from events.codec import encode
from events.projection import COMPLETED
from events.types import BookParsed, CheckOrder, JobCompleted, SegmentChecked, SegmentSynthesized
from services.bus.control import fleet, status_of
from services.engines.damage import damaged
from services.parse.formats import read_book
from services.settings import Settings
from services.testing.waiting import accepted_job, job_events, job_state, wait_for
from tests.built_epubs import build_epub, chapter
from tests.conftest import book
from tests.integration.helpers import running

pytestmark = pytest.mark.slow
CHAPTER_CHARS = 900  # per chapter: about four segments of real prose


def _opening(relative: str, chars: int) -> tuple[str, list[str]]:
    """The title and first paragraphs (past ``chars`` characters) of a real book's first long chapter."""
    source = read_book(book(relative))
    first = next(c for c in source.chapters if sum(map(len, c.paragraphs)) > chars)
    taken: list[str] = []
    for paragraph in first.paragraphs:
        taken.append(paragraph)
        if sum(map(len, taken)) > chars:
            break
    return first.title, taken


def two_books_epub(path: Path) -> Path:
    """Two chapters of real prose by other hands: Frankenstein's first letter, Alice's first chapter."""
    chapters, entries = {}, {}
    for number, relative in enumerate(("epub/pg84_frankenstein_epub2-ncx.epub",
                                       "epub/alice_epub3-nav-only_epubjs.epub"), start=1):
        title, paragraphs = _opening(relative, CHAPTER_CHARS)
        name = f"c{number}.xhtml"
        chapters[name] = chapter("".join(f"<p>{html.escape(p)}</p>" for p in paragraphs))
        entries[name] = title
    return build_epub(path, chapters, title="Two Openings", entries=entries)


async def converted(js, client, settings: Settings, request: dict[str, object],
                    timeout: float) -> tuple[str, JobCompleted]:
    """Run the four stages with ``settings``, send ``request``, and wait for its book: the job id and
    its completion."""
    async with running(["parse", "tts", "assemble", "check"], settings):
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(request))
        job_id = await wait_for(lambda: accepted_job(js, str(request["request_id"])), timeout=60)

        async def completion() -> list[JobCompleted]:
            return [e for e in await job_events(js, job_id) if isinstance(e, JobCompleted)]

        (completed,) = await wait_for(completion, timeout=timeout)
    return job_id, completed


async def test_the_check_finds_the_damaged_segments_and_the_book_waits_for_it(js, client, settings) -> None:
    two_books_epub(settings.input_dir / "two.epub")
    request = {"source": {"path": "two.epub"}, "engine": "damaged", "voice": "mixed-50", "check": "all",
               "request_id": "checked"}
    job_id, completion = await converted(js, client, replace(settings, check_takes=1), request, 400)  # no retakes
    events = await job_events(js, job_id)
    state = await job_state(js, job_id)
    assert state.status == COMPLETED
    to_check = [e for e in events if isinstance(e, SegmentSynthesized) and e.check is not None]
    verdicts = {(e.chapter, e.index): e for e in events if isinstance(e, SegmentChecked)}
    assert to_check and {(e.chapter, e.index) for e in to_check} == set(verdicts)
    faults = {(e.chapter, e.index): damaged(e.check.text, 0.5, "mixed") for e in to_check}
    damaged_ones = {key for key, fault in faults.items() if fault}
    clean = set(verdicts) - damaged_ones
    assert damaged_ones and clean, "the voice damages about half of the segments"
    missed = [verdicts[key] for key in damaged_ones if verdicts[key].ok]
    false_alarms = [verdicts[key] for key in clean if not verdicts[key].ok]
    # over the test shelf every dropped clause, other sentence and silence is found; the listener now and
    # then writes a phrase said twice once, or hears a one-word heading whole when its end is cut
    assert all(faults[(v.chapter, v.index)] in ("repeat", "cut") for v in missed), missed
    assert len(missed) <= 2, f"damaged segments heard as fine: {missed}"
    assert len(false_alarms) <= 1, f"clean segments flagged: {false_alarms}"
    for key in damaged_ones - {(v.chapter, v.index) for v in missed}:
        verdict = verdicts[key]
        assert verdict.reason and verdict.text and verdict.language in ("en", "")
    # the book waited for its verdicts, and says what was heard in it
    assert [e for e in events if isinstance(e, JobCompleted)] == [completion]
    assert completion.quality is not None
    assert completion.quality.checked == len(verdicts)
    assert completion.quality.flagged == len(damaged_ones) - len(missed) + len(false_alarms)
    assert completion.quality.language == "en"
    assert state.checked_segments == len(verdicts)
    assert {(c, i) for c, i, _ in state.flagged_segments} == {k for k, v in verdicts.items() if not v.ok}


async def test_a_segment_whose_audio_is_gone_is_flagged_not_crashed_on(js, client, settings) -> None:
    """An event naming audio that is not in the store: flagged with that reason; the worker goes on."""
    forged = SegmentSynthesized(job_id="jnoaudio", chapter=0, index=0, audio_object="audio/nothing.aac",
                                samples=1024, sample_rate=22050,
                                check=CheckOrder(text="Nothing was ever said here.", language="en"))
    async with running(["check"], settings):
        await js.publish(names.event_subject("jnoaudio", SegmentSynthesized.KIND), encode(forged))

        async def verdict() -> list[SegmentChecked]:
            return [e for e in await job_events(js, "jnoaudio") if isinstance(e, SegmentChecked)]

        (checked,) = await wait_for(verdict, timeout=60)
    assert not checked.ok and "not in the store" in checked.reason


async def test_a_segment_that_stops_every_check_worker_gets_a_verdict_on_its_last_delivery(js, client,
                                                                                            settings) -> None:
    """A check worker killed while hearing a segment never answers; after it, every delivery but the
    last is another chance to hear it, and the last flags it unheard: its book never waits forever."""
    from services.bus.topology import ensure_topology

    brief = replace(settings, ack_wait_s=1.0, max_deliver=2)
    await ensure_topology(js, brief)  # the check consumer now delivers a segment twice at most
    event = SegmentSynthesized(job_id="jkilled", chapter=0, index=0, audio_object="audio/killed.aac",
                               samples=1024, sample_rate=22050,
                               check=CheckOrder(text="This segment stops every listener.", language="en"))
    await js.publish(names.event_subject("jkilled", SegmentSynthesized.KIND), encode(event))
    killed = await js.pull_subscribe_bind(durable=names.CHECK_CONSUMER, stream=names.EVENTS_STREAM)
    (taken,) = await killed.fetch(1, timeout=10)  # a worker takes it, then dies: no ack, no verdict
    assert taken.metadata.num_delivered == 1
    await killed.unsubscribe()
    async with running(["check"], brief):

        async def verdict() -> list[SegmentChecked]:
            return [e for e in await job_events(js, "jkilled") if isinstance(e, SegmentChecked)]

        (checked,) = await wait_for(verdict, timeout=60)
    assert not checked.ok and checked.rule == "unheard"
    assert checked.reason == ("it could not be checked: delivered once before with no verdict (a check worker "
                              "stopped on it)"), checked.reason

async def test_auto_hears_every_segment_where_a_check_worker_has_a_gpu(js, client, settings) -> None:
    """The stack's default, ``auto``: a sample while the check workers run on CPUs, every segment
    once one says it has a GPU (its model loads on the first segment: none here)."""
    auto = replace(settings, check="auto")
    two_books_epub(auto.input_dir / "two.epub")

    async def planned(request_id: str) -> str:
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(
            {"source": {"path": "two.epub"}, "engine": "piper", "request_id": request_id,
             "chapters": "1" if request_id == "cpu" else "2"}))
        job_id = await wait_for(lambda: accepted_job(js, request_id), timeout=60)

        async def parsed() -> list[BookParsed]:
            return [e for e in await job_events(js, job_id) if isinstance(e, BookParsed)]

        (book_parsed,) = await wait_for(parsed, timeout=60)
        return book_parsed.check

    async with running(["parse", "check"], auto):
        assert await planned("cpu") == "sample:0.1"
    async with running(["parse"], auto), running(["check"], replace(auto, device="cuda", worker_name="gpu")):

        async def gpu_checker_answers() -> bool:  # a request planned before it started gets a sample, rightly
            return any(str(status_of(reply).get("device", "")).startswith("cuda")
                       for reply in await fleet(client, 0.3))

        await wait_for(gpu_checker_answers, timeout=30)
        assert await planned("gpu") == "all"


async def test_a_book_read_in_the_wrong_language_fails_the_check_as_a_whole(js, client, settings) -> None:
    """German prose read as English by the English voice: most segments are flagged, and the
    completion says what was heard."""
    # several segments, so that one take the listener happens to accept does not turn the majority
    title, paragraphs = _opening("epub/pg22367_die-verwandlung_de.epub", 1500)
    build_epub(settings.input_dir / "de.epub", {"c1.xhtml": chapter(
        "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs))}, title=title, language="de")
    request = {"source": {"path": "de.epub"}, "engine": "piper", "language": "en", "check": "all",
               "request_id": "wrong"}
    # with retakes (three takes): gibberish that sounds like the text piece by piece is "not the text"
    # (fewer than half its words heard as written), so no take of it passes (9 of 10 stayed flagged)
    _, completed = await converted(js, client, settings, request, 400)
    quality = completed.quality
    assert quality is not None and quality.checked >= 3
    assert quality.flagged * 2 > quality.checked and quality.still_flagged * 2 > quality.checked, quality


async def test_retakes_leave_no_damaged_segment_where_a_take_was_clean(js, client, settings) -> None:
    """The voice damages 30% of its takes, each take anew: a flagged segment is synthesized again (at most
    three takes in all), and the book holds a take heard fine wherever one of the three was clean."""
    two_books_epub(settings.input_dir / "two.epub")
    request = {"source": {"path": "two.epub"}, "engine": "damaged", "voice": "mixed-30", "check": "all",
               "request_id": "retaken"}
    job_id, completed = await converted(js, client, settings, request, 500)
    events = await job_events(js, job_id)
    firsts = {(e.chapter, e.index): e for e in events
              if isinstance(e, SegmentSynthesized) and e.take == 0 and e.check is not None}
    takes: dict[tuple[int, int], set[int]] = {}
    for event in events:
        if isinstance(event, SegmentSynthesized):
            takes.setdefault((event.chapter, event.index), set()).add(event.take)
    verdicts: dict[tuple[int, int], dict[int, SegmentChecked]] = {}
    for event in events:
        if isinstance(event, SegmentChecked):
            verdicts.setdefault((event.chapter, event.index), {})[event.take] = event
    assert max(max(t) for t in takes.values()) <= 2, "never more than three takes"
    for key, first in firsts.items():
        heard = verdicts[key]
        faults = [damaged(first.check.text, 0.3, "mixed", take) for take in range(3)]
        if not heard[0].ok:
            assert heard[0].retake and 1 in takes[key], "a flagged first take is taken again"
        if faults[0] and any(not fault for fault in faults) and not heard[0].ok:
            assert any(v.ok for v in heard.values()), f"{key}: a clean take was never heard fine: {heard}"
    retaken = sum(1 for key in firsts if max(takes[key]) > 0)
    quality = completed.quality
    assert quality is not None and quality.retaken == retaken > 0
    assert quality.flagged == sum(not verdicts[key][0].ok for key in firsts)
    all_damaged = sum(all(damaged(firsts[k].check.text, 0.3, "mixed", t) for t in range(3)) for k in firsts)
    assert quality.still_flagged <= all_damaged + 1, quality
    state = await job_state(js, job_id)
    assert len(state.flagged_segments) == quality.still_flagged
