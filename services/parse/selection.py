"""The chapters a request picks (pure): ``"1-5,8"`` keeps those, in reading order."""

from __future__ import annotations

from dataclasses import replace

from events.errors import PermanentError
from events.requests import chapter_numbers
from services.parse.book import Book


class ChapterSelectionError(PermanentError):
    """The selection names chapters the book does not have."""


def select_chapters(book: Book, spec: str | None) -> Book:
    """``book`` with only the chapters ``spec`` names (all of them when ``spec`` is empty)."""
    if not spec:
        return book
    numbers = chapter_numbers(spec)
    missing = [n for n in numbers if n > len(book.chapters)]
    if missing:
        raise ChapterSelectionError(
            f"the book has {len(book.chapters)} chapters; chapter {missing[0]} does not exist "
            "(`audiobook chapters BOOK` lists them)")
    return replace(book, chapters=tuple(book.chapters[n - 1] for n in numbers))
