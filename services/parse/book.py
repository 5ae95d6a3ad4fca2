"""The parsed book: chapters of clean paragraphs, ready to be segmented."""

from __future__ import annotations

from dataclasses import dataclass

from events.errors import PermanentError


class EbookError(PermanentError):
    """An input that is not a readable ebook; the message is for a person."""


@dataclass(frozen=True)
class Chapter:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Cover:
    data: bytes
    media_type: str

    @property
    def suffix(self) -> str:
        return ".png" if self.media_type == "image/png" else ".jpg"


@dataclass(frozen=True)
class Book:
    title: str
    author: str
    language: str
    chapters: tuple[Chapter, ...]
    cover: Cover | None = None
    warnings: tuple[str, ...] = ()  # parts of the file that could not be read, for a person
    year: str = ""  # of publication, four digits ("" when unknown)
    publisher: str = ""
    description: str = ""  # plain text
