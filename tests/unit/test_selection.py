"""Chapters the user picks: "1-5,8" parsed, normalized and applied to a book (pure)."""

from __future__ import annotations

import orjson
import pytest

from events.requests import RequestError, chapter_numbers, chapter_spec, job_id_for, parse_request
from services.parse.book import Book, Chapter
from services.parse.selection import ChapterSelectionError, select_chapters

BOOK = Book(title="T", author="A", language="en",
            chapters=tuple(Chapter(f"Chapter {n}", (f"Text {n}.",)) for n in range(1, 11)))


@pytest.mark.parametrize(("spec", "numbers", "normal"), [
    ("1-5,8", [1, 2, 3, 4, 5, 8], "1-5,8"),
    ("8, 1-3 ,2", [1, 2, 3, 8], "1-3,8"),
    ("4", [4], "4"),
    ("1-2,3-4", [1, 2, 3, 4], "1-4"),
])
def test_selections(spec: str, numbers: list[int], normal: str) -> None:
    assert chapter_numbers(spec) == numbers and chapter_spec(numbers) == normal


@pytest.mark.parametrize("spec", ["0", "5-3", "a-b", "1-", "-2", "1;2", "١"])
def test_bad_selections_are_refused_with_the_reason(spec: str) -> None:
    with pytest.raises(RequestError, match='"chapters"'):
        chapter_numbers(spec)


def test_the_request_carries_the_normalized_selection_and_it_names_the_job() -> None:
    request = parse_request(orjson.dumps({"source": "a.epub", "chapters": "8,1-3"}))
    assert request.chapters == "1-3,8" and parse_request(request.encode()) == request
    assert job_id_for("ab" * 32, None, None, 1.0, chapters="1-3,8") != job_id_for("ab" * 32, None, None, 1.0)


def test_selecting_keeps_reading_order_and_refuses_missing_chapters() -> None:
    picked = select_chapters(BOOK, "1-3,8")
    assert [c.title for c in picked.chapters] == ["Chapter 1", "Chapter 2", "Chapter 3", "Chapter 8"]
    assert select_chapters(BOOK, None) is BOOK
    with pytest.raises(ChapterSelectionError, match="the book has 10 chapters; chapter 11 does not exist"):
        select_chapters(BOOK, "9-12")
