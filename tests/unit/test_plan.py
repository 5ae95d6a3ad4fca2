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

    from services.parse.plan import segment_book
    from services.parse.readers.epub import read_epub
    from tests.conftest import book as test_book

    alice = read_epub(test_book("epub/alice_epub3-nav-only_epubjs.epub"))
    voice = resolve_voice("test", "short")
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        parallel = segment_book(alice, 400, pool)
        parallel_plan = plan_job(alice, "j", voice, 1.0, 400, pool=pool)
    assert parallel == segment_book(alice, 400)
    assert parallel_plan == plan_job(alice, "j", voice, 1.0, 400)


def _novel(words: int = 60_000) -> Book:
    """About 6 hours at the default voice's rate: 200 chapters of short sentences."""
    sentence = "The cat sat on the mat and the dog ran off."
    per_chapter = words // 200 // 11
    return Book(title="T", author="A", language="en", chapters=tuple(
        Chapter(f"Chapter {n}", tuple(" ".join([sentence] * 4) for _ in range(per_chapter // 4 or 1)))
        for n in range(200)))


def test_limits_hold_on_what_is_spoken_after_the_lexicon() -> None:
    """A lexicon that says each common word as 38 characters (within an entry's bound) turns a book
    within the limits into one far past them: planning stops at the first segment over, naming the limit."""
    import pytest

    from events.audio import DEFAULT_PAUSES
    from services.parse.lexicon import LexiconError, parse_lexicon
    from services.parse.limits import BookLimits, BookTooBig, SpokenBudget, estimated_hours

    book = _novel()
    chars = sum(len(p) for c in book.chapters for p in c.paragraphs)
    limits = BookLimits(max_audio_hours=20.0)
    limits.check_book(chars, len(book.chapters), 1.0)  # the text as written is within the limits
    voice = resolve_voice("test", "short")
    budget = SpokenBudget(limits, 1.0, DEFAULT_PAUSES)
    plan_job(book, "j", voice, 1.0, 400, budget=budget)
    assert estimated_hours(chars, 1.0) < budget.hours < 20, "spoken with its pauses, still within"
    with pytest.raises(LexiconError, match=r"'the' would be said in 398 characters; .* at most 40"):
        parse_lexicon(f"the = {'la ' * 133}")  # an entry's expansion is bounded
    words = ("the", "cat", "sat", "on", "mat", "and", "dog", "ran", "off")
    lexicon = parse_lexicon("".join(f"{word} = {'la ' * 13}\n" for word in words))  # each as 38 characters
    budget = SpokenBudget(limits, 1.0, DEFAULT_PAUSES)
    with pytest.raises(BookTooBig, match=r"over 20 hours of audio with its lexicon and pauses;.*AUDIOBOOK_MAX_AUDIO"):
        plan_job(book, "j", voice, 1.0, 400, lexicon=lexicon, budget=budget)
    assert budget.hours <= 20.1, "planning stopped at the first segment over the limit"


def test_pauses_count_toward_the_audio_limit() -> None:
    import pytest

    from events.audio import Pauses
    from services.parse.limits import BookLimits, BookTooBig, SpokenBudget

    book, voice, limits = _novel(), resolve_voice("test", "short"), BookLimits(max_audio_hours=10.0)
    plan_job(book, "j", voice, 1.0, 400, budget=SpokenBudget(limits, 1.0, Pauses()))  # default pauses: within
    longest = Pauses(sentence=10_000, paragraph=10_000, chapter=10_000, heading=10_000)
    with pytest.raises(BookTooBig, match="with its lexicon and pauses"):
        plan_job(book, "j", voice, 1.0, 400, pauses=longest, budget=SpokenBudget(limits, 1.0, longest))
