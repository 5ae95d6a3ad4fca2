"""Chapters in the making, shared by every format's reader (pure): blocks gathered under a title,
boilerplate and title matter dropped, then the book's chapters."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from services.parse.book import Chapter
from services.parse.xhtml import Block

BOILERPLATE_TITLE = re.compile(
    r"^\W*(table of contents|contents|inhalt(sverzeichnis)?|table des mati[eè]res|sommaire|"
    r"title ?page|titlepage|cover|imprint|colophon|(un)?copyright|"
    r"(the )?full project gutenberg licen[cs]e|.*project gutenberg.*licen[cs]e.*)\W*$",
    re.IGNORECASE,
)
GUTENBERG_LINE = re.compile(r"\*\*\*\s*(START|END) OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
PROSE_BLOCK_CHARS = 100
MAX_TITLE_CHARS = 200  # a chapter title longer than this is not a title (and would bloat book.parsed)


@dataclass
class Draft:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)

    @property
    def prose(self) -> bool:
        return any(len(b.text) >= PROSE_BLOCK_CHARS and not b.heading for b in self.blocks)

    @property
    def mostly_links(self) -> bool:
        return self.chars > 0 and sum(b.link_chars for b in self.blocks) * 2 >= self.chars


def keep(drafts: list[Draft]) -> list[Draft]:
    """Drop boilerplate, contents pages, empty entries and title matter before the first prose."""
    kept: list[Draft] = []
    for draft in drafts:
        draft.blocks = [b for b in draft.blocks if not GUTENBERG_LINE.search(b.text)]
        if not draft.blocks or BOILERPLATE_TITLE.match(draft.title) or draft.mostly_links:
            continue
        if not kept and not draft.prose:
            continue
        kept.append(draft)
    return kept


def chapters_of(drafts: list[Draft]) -> tuple[Chapter, ...]:
    """The book's chapters from the drafts kept: titled, each a tuple of paragraphs."""
    return tuple(
        Chapter(title=(d.title or f"Chapter {n}")[:MAX_TITLE_CHARS], paragraphs=tuple(b.text for b in d.blocks))
        for n, d in enumerate(drafts, start=1)
    )


def at_headings(blocks: list[Block], title: str) -> tuple[list[Draft], str]:
    """Cut blocks into chapters at the shallowest heading level that occurs more than once (a lone
    top heading is the book's title, the next level its chapters); with none repeated, one
    chapter. Returns the drafts and the title (the lone top heading's, when ``title`` is empty)."""
    levels = Counter(b.level for b in blocks if b.level)
    repeated = sorted(level for level, count in levels.items() if count > 1)
    cut = repeated[0] if repeated else 0
    drafts: list[Draft] = []
    current = Draft(title=title)
    for block in blocks:
        if cut and block.level == cut:
            current = Draft(title=block.text, blocks=[block])  # the title is read, as in an EPUB
            drafts.append(current)
        elif block.level and block.level < cut:
            title = title or block.text  # the book's own heading above the chapters
        else:
            current.blocks.append(block)
            if not drafts:
                drafts.append(current)
    return drafts, title


def kept_or_all(drafts: list[Draft]) -> list[Draft]:
    """``keep``; for a short piece with no prose paragraph at all, every draft with text."""
    return keep(drafts) or [d for d in drafts if d.blocks]
