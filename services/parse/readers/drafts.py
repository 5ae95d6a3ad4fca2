"""Chapters in the making, shared by every format's reader (pure): blocks gathered under a title,
boilerplate and title matter dropped, then the book's chapters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.parse.book import Chapter
from services.parse.readers.xhtml import Block
from services.parse.segmenter import fold

# (possessive and atomic where a title of many thousand characters would otherwise be re-scanned: linear)
BOILERPLATE_TITLE = re.compile(
    r"^\W*+(table of contents|contents|inhalt(sverzeichnis)?|table des mati[eè]res|sommaire|[íi]ndice|indice|"
    r"title ?page|titlepage|cover|imprint|colophon|(un)?copyright|index|copertina|couverture|"
    r"bibliograph(y|ie)|bibliograf[ií]a|errata|corrigenda|"
    r"about this e?book|(à|a) propos( de (ce|cet) (e-?book|livre|ouvrage))?|informazioni|"
    r"(the )?full project gutenberg licen[cs]e|(?>.*?project gutenberg)(?>.*?licen[cs]e).*+)\W*$",
    re.IGNORECASE,
)
# a transcriber's note, however worded: "Transcriber's Notes", "Note from the Transcriber",
# "Anmerkungen zur Transkription", "Note du transcripteur", "Nota del trascrittore"
TRANSCRIBERS_NOTE = re.compile(
    r"^.{0,40}(\b(transcriber|transcripteur|trascrittore|transcriptor|transkriptor)|"
    r"\b(notes?|anmerkung|anmerkungen|hinweise?|nota|remarques?)\b.{0,20}"
    r"\b(transcription|transkription|trascrizione|transcripci[oó]n|transcri[çc][aã]o))",
    re.IGNORECASE)
# a footnote marker left in a title: "Chapter XXII[1]", "Preface*", "Notes¹" (a run of spaces, stars or
# superscripts is tried from its start only: linear)
TITLE_NOTE_MARKER = re.compile(r"(?<!\s)\s*(\[\s*(\d{1,3}|[*†‡a-z])\s*\]|(?<![*†‡])[*†‡]+|"
                               r"(?<![¹²³⁴⁵⁶⁷⁸⁹⁰])[¹²³⁴⁵⁶⁷⁸⁹⁰]+)(?=[\s.,;:!?)]|$)")
GUTENBERG_LINE = re.compile(r"\*\*\*\s*(START|END) OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
# who made the file, not the book: "Produced by ...", "Note from the original file: ...", "Transcriber's note: ..."
PRODUCER_LINE = re.compile(
    r"^\W*(produced by|e-?text prepared by|this e-?(book|text) was (produced|prepared)|note from the original file|"
    r"transcriber['’]?s? notes?\s*[:.—-]|html version by|proofread by|digiti[sz]ed by|achevé d['’]imprimer|"
    r"télécharger la suite|(foot|end) ?notes by\b)\b", re.IGNORECASE)
ADVERT_WORDS = 30  # a paragraph this short holding a web address is the file's maker's, not the book's
BACKLINK = re.compile(r"[↩↑]\ufe0e?\s*$")  # a footnote's way back to its marker: the note itself
PROSE_BLOCK_CHARS = 100
PRODUCTION_NOTE_WORDS = 300
# a web or mail address (searched for, not cut out). A mail address's name is tried from the start of its run of
# letters, digits and ``.+-`` only, so "1.1.1.1..." is scanned once, not once per character
ADDRESS = re.compile(r"(https?://|www\.)\S+|(?<![\w.+-])[.+-]*+\w[\w.+-]*+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
PRODUCTION = re.compile(r"\b(e-?books?|epub|mobi|pdf|e-?texts?|wiki\w*|gutenberg|calibre|digital edition|"
                        r"convert\w*|konwersj\w*|numéris\w*|digitali[sz]\w*)\b", re.IGNORECASE)
VERSE_WORDS = 150  # short lines adding up to this many words are verse, not a title page
SMALL_ENTRY_WORDS = 40  # a TOC entry with fewer words is read with its neighbour
TITLE_JOIN = " — "
NUMERAL_ONLY = re.compile(r"^([IVXLCDM]+|\d+)\.?$")
NUMBERED_TITLE = re.compile(r"^(\w.*\S)\s+([IVXLCDM]+\.?|\d+\.?)$")  # "PREMIÈRE PARTIE I", "Book 2"
MAX_TITLE_CHARS = 320  # a chapter title longer than this is not a title (and would bloat book.parsed)


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
        """Text a listener came for: a paragraph of prose, or verse (many short lines) in numbers."""
        body = [b for b in self.blocks if not b.heading]
        return (any(len(b.text) >= PROSE_BLOCK_CHARS for b in body)
                or sum(len(b.text.split()) for b in body) >= VERSE_WORDS)

    @property
    def title_page(self) -> bool:
        """Short, and mostly lines (title, author, imprint) rather than paragraphs."""
        short = sum(len(b.text) < TITLE_PAGE_LINE_CHARS for b in self.blocks)
        return self.words < TITLE_PAGE_WORDS and short * 2 >= len(self.blocks)

    @property
    def production_note(self) -> bool:
        """A short page about the file rather than the book: who converted it, from where (an
        address), into which formats ("Przygotowanie oraz konwersja do formatów EPUB i MOBI ...")."""
        text = " ".join(b.text for b in self.blocks)
        named = {m.group(1).casefold() for m in PRODUCTION.finditer(text)}
        return self.words < PRODUCTION_NOTE_WORDS and bool(named) and (bool(ADDRESS.search(text)) or len(named) >= 2)

    @property
    def mostly_links(self) -> bool:
        return self.chars > 0 and sum(b.link_chars for b in self.blocks) * 2 >= self.chars


def boilerplate(title: str) -> bool:
    """Is a part with this title not read (contents, licence, index, a transcriber's note ...)?"""
    return bool(BOILERPLATE_TITLE.match(title) or TRANSCRIBERS_NOTE.match(title))


def clean_title(title: str) -> str:
    """A title as a player shows it: one line, no footnote marker, no closing period."""
    title = " ".join(TITLE_NOTE_MARKER.sub("", title).split())
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


TITLE_PAGE_WORDS, TITLE_PAGE_LINE_CHARS = 300, 60


GUTENBERG_START = re.compile(r"\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
GUTENBERG_END = re.compile(r"(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|^End of (the )?Project Gutenberg)",
                           re.IGNORECASE)


def _gutenberg_body(drafts: list[Draft]) -> None:
    """Project Gutenberg's header and licence, wherever a file carries them as text (a Word file,
    a printed PDF): what stands before its START line and from its END line on is not the book."""
    blocks = [(d, i) for d in drafts for i in range(len(d.blocks))]
    start = next((n for n, (d, i) in enumerate(blocks) if GUTENBERG_START.search(d.blocks[i].text)), None)
    end = next((n for n, (d, i) in enumerate(blocks) if GUTENBERG_END.search(d.blocks[i].text)), None)
    if start is None and end is None:
        return
    dropped = {id(d.blocks[i]) for n, (d, i) in enumerate(blocks)
               if (start is not None and n <= start) or (end is not None and n >= end)}
    for draft in drafts:
        draft.blocks = [b for b in draft.blocks if id(b) not in dropped]


def _not_the_book(block: Block) -> bool:
    """A paragraph the file's maker added: a Gutenberg marker, a producer's credit, a footnote
    (it ends with its way back to its marker), a short one holding a web address (an advert)."""
    text = block.text
    return bool(GUTENBERG_LINE.search(text) or PRODUCER_LINE.match(text) or BACKLINK.search(text)
                or (ADDRESS.search(text) and len(text.split()) < ADVERT_WORDS))


def keep(drafts: list[Draft], book_title: str = "") -> list[Draft]:
    """Drop boilerplate, contents pages, empty entries and title matter before the first prose (an
    entry named as the book, ``book_title``, is its title page, epigraph and imprint included)."""
    _gutenberg_body(drafts)
    kept: list[Draft] = []
    for draft in drafts:
        if not kept and book_title and fold(draft.title) == fold(book_title) and draft.title_page:
            continue
        if boilerplate(draft.title) or draft.mostly_links or draft.production_note:
            continue
        draft.blocks = [b for b in draft.blocks if not _not_the_book(b)]
        if not draft.blocks:
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
    titles = unique_titles([(clean_title(d.title) or f"Chapter {n}")[:MAX_TITLE_CHARS]
                            for n, d in enumerate(drafts, start=1)])
    return tuple(Chapter(title=title, paragraphs=tuple(b.text for b in d.blocks))
                 for title, d in zip(titles, drafts, strict=True))


def _sections(blocks: list[Block], level: int) -> list[tuple[Block, list[Block]]]:
    """Each heading of ``level`` with the blocks after it, up to the next heading of that level or
    a shallower one."""
    out: list[tuple[Block, list[Block]]] = []
    inside = False
    for block in blocks:
        if block.level and block.level <= level:
            inside = block.level == level
            if inside:
                out.append((block, []))
        elif inside:
            out[-1][1].append(block)
    return out


def _words(blocks: list[Block]) -> int:
    return sum(len(b.text.split()) for b in blocks)


def chapter_levels(blocks: list[Block]) -> tuple[int, int]:
    """(the heading level chapters start at, the level of the parts holding them or 0).

    The chapter level is the repeated level that opens the most sections with prose in them
    (a title page set in ``h2`` over chapters in ``h3`` does not count), unless the sections of a
    shallower repeated level mostly hold a chapter's worth of their own text before their first
    sub-heading: those are chapters, the deeper ones their sections. A shallower repeated level
    whose sections mostly hold chapters and little text of their own is the parts
    level (a part may hold one chapter): its chapters are titled with their part's title. With no
    repeated level, (0, 0).
    """
    levels = Counter(b.level for b in blocks if b.level)
    repeated = sorted(level for level, count in levels.items() if count > 1)
    if not repeated:
        return 0, 0
    prose = {level: sum(_words(body) >= SMALL_ENTRY_WORDS for _, body in _sections(blocks, level))
             for level in repeated}
    chosen = max(repeated, key=lambda level: (prose[level], -level))
    for upper in sorted((level for level in repeated if level < chosen), reverse=True):
        sections = _sections(blocks, upper)
        own = [_words(body[:next((i for i, b in enumerate(body) if b.level), len(body))]) for _, body in sections]
        if sum(words >= SMALL_ENTRY_WORDS for words in own) * 2 > len(sections):
            chosen = upper  # chapters with sections of their own
    upper_levels = [level for level in repeated if level < chosen]
    if upper_levels:
        upper = upper_levels[-1]
        sections = _sections(blocks, upper)
        parts = sum(any(b.level == chosen for b in body) and
                    _words(body[:next((i for i, b in enumerate(body) if b.level), len(body))]) < SMALL_ENTRY_WORDS
                    for _, body in sections)
        if parts * 2 > len(sections):
            return chosen, upper
    return chosen, 0


PART_WORD = re.compile(r"^\W*(part|book|volume|teil|buch|band|livre|partie|tome|libro|parte|deel|część|часть|книга)\b",
                       re.IGNORECASE)


def name_parts(drafts: list[Draft]) -> None:
    """In a book whose headings are one list ("PART I", "CHAPTER I", "CHAPTER II", "PART II" ...),
    the chapters after a part's heading are titled with it: "PART I — CHAPTER I", in place."""
    parts = [bool(d.title and PART_WORD.match(d.title)) for d in drafts]
    if not any(parts) or all(parts[i] for i, d in enumerate(drafts) if d.title):
        return
    part = ""
    for draft, is_part in zip(drafts, parts, strict=True):
        if is_part:
            part = draft.title.rstrip(".: ")
        elif part and draft.title and part not in draft.title:
            draft.title = f"{part}{TITLE_JOIN}{draft.title}"


def promote_parts(blocks: list[Block]) -> None:
    """Headings set like the chapters' but naming parts ("PART I.", "Book Two", "Erster Teil" at
    the level of "CHAPTER I.") are put one level above them, in place."""
    by_level: dict[int, list[Block]] = {}
    for block in blocks:
        if block.level:
            by_level.setdefault(block.level, []).append(block)
    for level in sorted(by_level):
        parts = {id(b) for b in by_level[level] if PART_WORD.match(b.text)}
        if parts and len(parts) < len(by_level[level]):
            for block in blocks:
                if block.level >= level and id(block) not in parts:
                    block.level += 1
            return


def _split_sections(blocks: list[Block], cut: int, lower: int) -> set[int]:
    """The headings of ``cut`` (by id) whose sections are cut again at ``lower``: those holding two
    headings of that level or more and not a chapter's worth of text before the first (a story
    in numbered parts, a play in scenes), as a two-level table of contents is read."""
    out: set[int] = set()
    for head, body in _sections(blocks, cut):
        children = [i for i, b in enumerate(body) if b.level == lower]
        if len(children) >= 2 and _words(body[:children[0]]) < SMALL_ENTRY_WORDS:
            out.add(id(head))
    return out


def at_headings(blocks: list[Block], title: str, front: bool = True) -> tuple[list[Draft], str]:
    """Cut blocks into chapters at their chapter level (:func:`chapter_levels`), a chapter inside a
    part titled "Part — Chapter"; with no level repeated, one chapter. A lone heading above the
    chapters is the book's title; text before the first chapter is read only with ``front``.
    Returns the drafts and the title (the lone top heading's, when ``title`` is empty)."""
    promote_parts(blocks)
    cut, parts = chapter_levels(blocks)
    below = sorted(level for level, count in Counter(b.level for b in blocks if b.level > cut).items() if count > 1)
    split = _split_sections(blocks, cut, below[0]) if cut and below else set()
    drafts: list[Draft] = []
    current = Draft(title=title)
    part = section = ""
    headed = False  # has a draft opened at a heading yet (drafts only grow, at the end: checked there)
    for block in blocks:
        headed = headed or bool(drafts and drafts[-1].blocks and drafts[-1].blocks[0].level)
        if cut and block.level == cut:
            named = block.text if not part or part in block.text else f"{part}{TITLE_JOIN}{block.text}"
            current = Draft(title=named, blocks=[block])  # the title is read, as in an EPUB
            drafts.append(current)
            section = named.rstrip(".: ") if id(block) in split else ""
        elif section and block.level == below[0]:
            current = Draft(title=f"{section}{TITLE_JOIN}{block.text}", blocks=[block])
            drafts.append(current)
        elif parts and block.level == parts:
            part = block.text.rstrip(".: ")
            current = Draft(title=part, blocks=[block])  # a part's page: read with its first chapter
            drafts.append(current)
        elif block.level and block.level < (parts or cut) and not headed:
            title = title or block.text  # the book's own heading above the chapters
        elif block.level and block.level < (parts or cut):
            part = ""  # a heading above the chapters between them: a chapter if prose follows it
            current = Draft(title=block.text, blocks=[block])
            drafts.append(current)
        elif drafts or front:
            current.blocks.append(block)
            if not drafts:
                drafts.append(current)
    return drafts, title


MAX_WARNINGS, MAX_WARNING_CHARS = 20, 300  # what a Book keeps of the parts it could not read


def bounded_warnings(warnings: Iterable[str]) -> tuple[str, ...]:
    """A reader's warnings as its Book keeps them: each once, the first MAX_WARNINGS cut to
    MAX_WARNING_CHARS, and how many more parts were not read."""
    unique = list(dict.fromkeys(warnings))
    kept = [w if len(w) <= MAX_WARNING_CHARS else w[:MAX_WARNING_CHARS - 1] + "…" for w in unique[:MAX_WARNINGS]]
    if len(unique) > MAX_WARNINGS:
        kept.append(f"… and {len(unique) - MAX_WARNINGS:,} more parts were not read")
    return tuple(kept)


def kept_or_all(drafts: list[Draft]) -> list[Draft]:
    """``keep``, a few words read with the chapter after them (``absorb_small``); for a short piece
    with no prose paragraph at all, every draft with text."""
    return absorb_small(keep(drafts)) or [d for d in drafts if d.blocks]
