"""How much one book may ask of the stack (pure): every limit is named in the rejection.

A small file can expand into a huge book (a 41 KB EPUB into 296 hours of audio), a zip can
lie about its size, a table of contents can have 100,000 entries. These limits keep one book
from hogging the stack; each is a documented setting (docs/configuration.md, docs/security.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from events.audio import SPEECH_S_PER_CHAR, Pauses
from services.parse.book import EbookError
from services.settings import Settings


class BookTooBig(EbookError):
    """A book over one of the limits; the message names the limit and its setting."""


@dataclass(frozen=True)
class BookLimits:
    max_unpacked_bytes: int = 512 * 2**20  # all members of the archive, really inflated
    max_member_bytes: int = 64 * 2**20  # one member (the largest real XHTML chapter is a few MB)
    max_expansion: float = 100.0  # unpacked / packed: text deflates 3-5x, a zip bomb 1000x
    max_entries: int = 20_000
    max_chars: int = 10_000_000  # readable characters (about 1.7 million words)
    max_chapters: int = 2_000
    max_toc_entries: int = 20_000  # refused before any chapter is cut (a 100,000-entry TOC took 16 minutes)
    max_segments: int = 100_000
    max_audio_hours: float = 100.0  # estimated at the default voice's rate
    max_parse_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BookLimits:
        return cls(max_unpacked_bytes=settings.max_unpacked_bytes, max_chars=settings.max_book_chars,
                   max_chapters=settings.max_chapters, max_segments=settings.max_segments,
                   max_audio_hours=settings.max_audio_hours, max_parse_s=settings.max_parse_s)

    def check_book(self, chars: int, chapters: int, speed: float) -> None:
        """Refuse a parsed book that is too long to convert here."""
        if chars > self.max_chars:
            raise BookTooBig(f"the book has {chars:,} characters to read; this server accepts up to "
                             f"{self.max_chars:,} (AUDIOBOOK_MAX_BOOK_CHARS)")
        if chapters > self.max_chapters:
            raise BookTooBig(f"the book has {chapters:,} chapters; this server accepts up to {self.max_chapters:,} "
                             "(AUDIOBOOK_MAX_CHAPTERS)")
        hours = estimated_hours(chars, speed)
        if hours > self.max_audio_hours:
            raise BookTooBig(f"the book would be about {hours:.0f} hours of audio; this server makes up to "
                             f"{self.max_audio_hours:g} hours (AUDIOBOOK_MAX_AUDIO_HOURS)")

    def check_plan(self, segments: int) -> None:
        if segments > self.max_segments:
            raise BookTooBig(f"the book splits into {segments:,} segments; this server accepts up to "
                             f"{self.max_segments:,} (AUDIOBOOK_MAX_SEGMENTS)")


def estimated_hours(chars: int, speed: float) -> float:
    """Hours of audio ``chars`` characters make at the default voice's measured rate."""
    return chars * SPEECH_S_PER_CHAR / max(speed, 0.01) / 3600


SENTENCE_END = re.compile(r"[.!?…]+(?:\s|$)")


@dataclass
class SpokenBudget:
    """What a book asks the voices to say, counted segment by segment as it is planned.

    The text limits are checked once more on what is spoken (after the reader's lexicon, numbers
    and abbreviations in words, and with every pause), so a lexicon or long pauses cannot turn a
    book within the limits into one far past them. Planning stops at the first segment over.
    """

    limits: BookLimits
    speed: float
    pauses: Pauses
    chars: int = 0
    pause_ms: int = 0

    def add(self, paragraphs: tuple[str, ...], pause_after_ms: int) -> None:
        """Count one segment; raises :class:`BookTooBig` once the book is over a limit."""
        self.chars += sum(len(p) for p in paragraphs)
        sentences = sum(len(SENTENCE_END.findall(p)) for p in paragraphs)
        self.pause_ms += (pause_after_ms + self.pauses.paragraph * (len(paragraphs) - 1)
                          + self.pauses.sentence * sentences)
        if self.chars > self.limits.max_chars:
            raise BookTooBig(f"the text to speak (after the lexicon and with numbers in words) is over "
                             f"{self.limits.max_chars:,} characters; this server accepts up to "
                             f"{self.limits.max_chars:,} (AUDIOBOOK_MAX_BOOK_CHARS)")
        hours = self.hours
        if hours > self.limits.max_audio_hours:
            raise BookTooBig(f"the book would be over {self.limits.max_audio_hours:g} hours of audio with its "
                             f"lexicon and pauses; this server makes up to {self.limits.max_audio_hours:g} hours "
                             "(AUDIOBOOK_MAX_AUDIO_HOURS)")

    @property
    def hours(self) -> float:
        """Estimated hours so far: speech at the default voice's rate, plus every pause."""
        return estimated_hours(self.chars, self.speed) + self.pause_ms / 3_600_000
