"""The job plan: one command per distinct audio, chapters in reading order (pure)."""

from __future__ import annotations

from services.parse.book import Book, Chapter
from services.parse.plan import plan_job
from services.voices import resolve_voice


def test_repeated_text_is_synthesized_once_and_reported_everywhere() -> None:
    book = Book(title="T", author="A", language="en", chapters=(
        Chapter("One", ("It begins.", "Ring out!", "It goes on.")),  # a refrain (a scene break is not read)
        Chapter("Two", ("Ring out!", "It ends.")),
    ))
    plan = plan_job(book, "j", resolve_voice("test", "short"), 1.0, max_chars=12)
    keys = [job.cache_key for _, job in plan.jobs]
    assert len(keys) == len(set(keys)), "one command per distinct audio"
    positions = [p for _, job in plan.jobs for p in job.positions()]
    assert sorted(positions) == [(c.index, i) for c in plan.parsed.chapters for i in range(c.segments)]
    stars = [job for _, job in plan.jobs if job.paragraphs == ("Ring out!",)]
    assert len(stars) == 1 and stars[0].positions() == ((0, 1), (1, 0))


def test_chapters_split_in_parallel_give_the_same_plan() -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from services.parse.epub import read_epub
    from services.parse.plan import segment_book
    from tests.conftest import book as test_book

    alice = read_epub(test_book("epub/alice_epub3-nav-only_epubjs.epub"))
    voice = resolve_voice("test", "short")
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        parallel = segment_book(alice, 400, pool)
        parallel_plan = plan_job(alice, "j", voice, 1.0, 400, pool=pool)
    assert parallel == segment_book(alice, 400)
    assert parallel_plan == plan_job(alice, "j", voice, 1.0, 400)
