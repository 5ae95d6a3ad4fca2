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
    r"title ?page|titlepage|cover|imprint|colophon|(un)?copyright|index|transcriber[’']?s? notes?|"
    r"(the )?full project gutenberg licen[cs]e|.*project gutenberg.*licen[cs]e.*)\W*$",
    re.IGNORECASE,
)
GUTENBERG_LINE = re.compile(r"\*\*\*\s*(START|END) OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
PROSE_BLOCK_CHARS = 100
SMALL_ENTRY_WORDS = 40  # a TOC entry with fewer words is read with its neighbour
TITLE_JOIN = " — "
NUMERAL_ONLY = re.compile(r"^([IVXLCDM]+|\d+)\.?$")
NUMBERED_TITLE = re.compile(r"^(\w.*\S)\s+([IVXLCDM]+\.?|\d+\.?)$")  # "PREMIÈRE PARTIE I", "Book 2"
MAX_TITLE_CHARS = 200  # a chapter title longer than this is not a title (and would bloat book.parsed)


@dataclass
class Draft:
    title: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)

    @property
    def words(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)

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


def absorb_small(drafts: list[Draft], min_words: int = SMALL_ENTRY_WORDS) -> list[Draft]:
    """A TOC entry holding only a few words (a part's title page, a subtitle, an epigraph) is read
    with the chapter after it (the last one with the chapter before), not as a chapter of its own."""
    out: list[Draft] = []
    carried: list[Block] = []
    for draft in drafts:
        if carried:
            draft.blocks = carried + draft.blocks
            carried = []
        if len(drafts) > 1 and draft.words < min_words:
            carried = draft.blocks
            continue
        out.append(draft)
    if carried:
        if out:
            out[-1].blocks.extend(carried)
        else:
            out.append(Draft(title=drafts[-1].title, blocks=carried))
    return out


def unique_titles(titles: list[str]) -> list[str]:
    """Titles a player's chapter list can tell apart.

    Where titles repeat ("II" once per part), the numbered chapters of a part are qualified by the
    part, read from the part's first title when numerals follow it ("PREMIÈRE PARTIE I", "II"
    give "PREMIÈRE PARTIE — I", "PREMIÈRE PARTIE — II"); what still repeats is numbered, "Notes (2)".
    """
    counts = Counter(titles)
    if len(counts) == len(titles):
        return titles
    out: list[str] = []
    context, opener = "", -1
    used: set[int] = set()  # the titles that named a part some repeated title is qualified by
    for position, title in enumerate(titles):
        numbered = NUMBERED_TITLE.match(title)
        following = titles[position + 1] if position + 1 < len(titles) else ""
        if numbered and NUMERAL_ONLY.match(following):  # a part's first chapter, its numbered siblings next
            context, opener = numbered.group(1), position
        elif numbered:
            context = ""
        elif context and (counts[title] > 1 or NUMERAL_ONLY.match(title)):
            used.add(opener)
            title = f"{context}{TITLE_JOIN}{title}"
        out.append(title)
    for position in used:  # "PREMIÈRE PARTIE I" reads as its part's chapters do: "PREMIÈRE PARTIE — I"
        numbered = NUMBERED_TITLE.match(titles[position])
        assert numbered is not None
        out[position] = f"{numbered.group(1)}{TITLE_JOIN}{numbered.group(2)}"
    seen: Counter[str] = Counter()
    for position, title in enumerate(out):
        seen[title] += 1
        if seen[title] > 1:
            out[position] = f"{title} ({seen[title]})"
    return out


def chapters_of(drafts: list[Draft]) -> tuple[Chapter, ...]:
    """The book's chapters from the drafts kept: titled (uniquely), each a tuple of paragraphs."""
    titles = unique_titles([(d.title or f"Chapter {n}")[:MAX_TITLE_CHARS] for n, d in enumerate(drafts, start=1)])
    return tuple(Chapter(title=title, paragraphs=tuple(b.text for b in d.blocks))
                 for title, d in zip(titles, drafts, strict=True))


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
