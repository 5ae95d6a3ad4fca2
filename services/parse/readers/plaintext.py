"""Read a plain-text book (.txt) into a Book (pure but for decoding bytes).

* The encoding is detected (``charset-normalizer``: UTF-8, Windows-1252, Latin-1, UTF-16 ...);
  line ends of any kind.
* Project Gutenberg's header (before ``*** START OF ...``) and licence (from ``*** END OF ...``)
  are not read; the header's ``Title:``, ``Author:`` and ``Language:`` lines are used.
* Paragraphs are separated by blank lines; the lines of one are joined. A contents list is
  skipped; ``_emphasis_`` loses its underscores; ``[Illustration]`` notes are dropped.
* Chapters start at heading lines: a paragraph of one line, not indented, such as ``Chapter 1``,
  ``CHAPTER IV. THE POOL``, ``Letter 3``, ``Kapitel 2``, ``Chapitre V`` or a lone ``II.``. With
  none, the book is one chapter. Lines before the first heading that are not prose (title page)
  are not read.
"""

from __future__ import annotations

import re
from collections import Counter

import pycountry
from charset_normalizer import from_bytes

from services.parse.book import Book, Chapter, EbookError
from services.parse.readers.drafts import (
    PRODUCER_LINE,
    PROSE_BLOCK_CHARS,
    Draft,
    at_headings,
    chapter_levels,
    chapters_of,
    clean_title,
    kept_or_all,
    name_parts,
)
from services.parse.readers.xhtml import ILLUSTRATION, Block
from services.spoken import roman_value

# A marker line, after any blank lines ("line" starts at the first line start in them). Written as "^\s*", a run
# of blank lines was scanned again from each of its lines (a text of 20,000 newlines took minutes); here a run
# is entered only from the character before it: linear.
LINE_START = r"(?:\A|(?<=\S)[^\S\n]*\n)"
START = re.compile(LINE_START + r"(?P<line>\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$)",
                   re.MULTILINE | re.IGNORECASE)
END = re.compile(LINE_START + r"(?P<line>\s*(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project "
                 r"Gutenberg).*$)", re.MULTILINE | re.IGNORECASE)
FIELD = re.compile(r"^(Title|Author|Language):\s*(.+)$", re.MULTILINE)
HEAD_WORD = (r"(?:chapter|letter|part|book|volume|stave|canto|section|epilogue|prologue|kapitel|teil|buch|abschnitt|"
             r"chapitre|livre|partie|tome|cap[ií]tulo|capitolo|libro|parte|hoofdstuk|deel|luku|rozdzia[łl]|"
             r"глава|часть|книга)")
# a heading paragraph of one line: "Chapter 1", "CHAPTER IV. THE POOL", "Chapter the First", "Erstes Kapitel",
# "Livre premier", "Kapitel 2", a lone "II." or "12." (the spaces before a subtitle are taken by one quantifier,
# "\s*+[.:—–-]\s+" or "\s+": split between two, a run of them was tried every way, in quadratic time)
HEADING = re.compile(
    rf"^(?:{HEAD_WORD}(?:\s+(?:[IVXLCDM]+|\d+)\.?(?:(?:\s*+[.:—–-]\s+|\s+).{{1,70}})?"  # CHAPTER IV. THE POOL
    rf"|(?:\s+(?:the\s+)?\w+)?\.?(?:\s*[.:—–-]\s*.{{1,70}})?)"  # Chapter the First, Livre premier: Le départ
    rf"|\w+\s+{HEAD_WORD}\.?(?:\s*[.:—–-]\s*.{{1,70}})?"  # Erstes Kapitel, Premier chapitre. Le départ
    rf"|[IVXLCDM]{{1,7}}\.?|\d{{1,3}}\.)$",
    re.IGNORECASE,
)
# the first line of a heading of several lines ("CHAPTER I." over "THE POOL."): short, and nothing but the
# heading word and its number (in figures, numerals or up to three words)
HEADING_LINE = re.compile(rf"^(?:{HEAD_WORD}(?:\s+[\w'’-]+){{1,3}}|\w+\s+{HEAD_WORD}|[IVXLCDM]{{1,7}}|\d{{1,3}})[.:]?$",
                          re.IGNORECASE)
HEADING_LINE_CHARS, SUBTITLE_CHARS, HEADING_LINES = 40, 70, 4
CONTENTS = re.compile(r"^\s*((table of )?contents|inhalt(sverzeichnis)?|table des mati[eè]res|sommaire|[íi]ndice)\W*$",
                      re.IGNORECASE)


MAX_LONE_NUMERAL = 200  # "DI" or "MIX" alone on a title page is a word, not chapter 501
CONTENTS_LINE = re.compile(rf"^\s*(?:{HEAD_WORD}\s+)?(?:[IVXLCDM]+|\d+)\b[.:]?(?:\s+\S.*)?$", re.IGNORECASE)


def _lone_numeral(line: str) -> bool:
    """Is the line a Roman numeral alone (with its period) that is not a chapter number?"""
    bare = line.rstrip(".")
    return bare.isalpha() and bare.isupper() and (roman_value(bare) or 0) > MAX_LONE_NUMERAL


def heading(lines: list[str]) -> str:
    """The chapter title a paragraph of ``lines`` opens, or "" when it is not a heading.

    One line that reads as a heading is one; so are up to four short lines whose first is only
    the heading word and its number ("CHAPTER I." over "THE POOL."): the title is that first line.
    A footnote marker on the line ("EERSTE HOOFDSTUK[1]") is not part of it.
    """
    first = clean_title(lines[0].strip())
    if first[:1].islower():  # "deepest part. It is said ...": a line of prose, not a heading
        return ""
    if len(lines) == 1:
        return first.rstrip(".") if HEADING.match(first) and not _lone_numeral(first) else ""
    if (len(lines) <= HEADING_LINES and len(first) <= HEADING_LINE_CHARS and HEADING_LINE.match(first)
            and all(len(line.strip()) <= SUBTITLE_CHARS for line in lines[1:])):
        return first.rstrip(".:")
    return ""


def contents_list(lines: list[str]) -> bool:
    """Is this paragraph a contents list: three lines or more, nearly all chapter headings or
    numbered titles ("I Introduction", "Chapter 2. The Pool ... 14")?"""
    if len(lines) < 3:
        return False
    listed = sum(bool(HEADING.match(line.strip()) or CONTENTS_LINE.match(line.strip())) for line in lines)
    return listed * 10 >= len(lines) * 8 and all(len(line.strip()) <= SUBTITLE_CHARS + 10 for line in lines)


def unwrap_emphasis(text: str) -> str:
    """``_word_`` and ``_a few words_`` without their underscores, in one pass (linear in the text).

    An underscore opens emphasis when no letter or digit stands before it and one that is not a
    space follows; the next underscore with no letter or digit after it closes it.
    """
    if "_" not in text:
        return text
    out: list[str] = []
    opened = -1  # where in ``out`` the open underscore stands
    for position, char in enumerate(text):
        if char != "_":
            out.append(char)
            continue
        before = text[position - 1] if position else " "
        after = text[position + 1] if position + 1 < len(text) else " "
        if opened >= 0 and not after.isalnum() and not before.isspace() and before != "_":
            out[opened] = ""  # a closing underscore: drop it and its opener
            opened = -1
        elif opened < 0 and not before.isalnum() and not after.isspace() and after != "_":
            opened = len(out)
            out.append("_")
        else:
            out.append("_")
    return "".join(out)


def decode(data: bytes) -> str:
    """The text of a file in whatever encoding it is in, with ``\\n`` line ends."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _single_byte(data)
    if "\x00" in text:
        raise EbookError("not a text file: it holds binary data")
    return text.replace("\r\n", "\n").replace("\r", "\n")


WESTERN = ("cp1252", "latin_1", "iso8859_15")  # among equally good readings, the commonest for books


def _single_byte(data: bytes) -> str:
    """Text that is not UTF-8: charset-normalizer's reading; where readings tie (Windows-1250 and
    -1252 read most Western text alike, but not ï, ð, ý ...), Windows-1252."""
    results = list(from_bytes(data))
    if not results:
        raise EbookError("not a text file: no character encoding reads it")
    best = results[0]
    tied = [m for m in results if m.chaos <= best.chaos + 1e-3 and m.coherence >= best.coherence - 0.01]
    for encoding in WESTERN:
        if any(encoding == m.encoding or encoding in m.could_be_from_charset for m in tied):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    return str(best)


def gutenberg_body(text: str) -> tuple[str, dict[str, str]]:
    """The book between Project Gutenberg's header and licence, and the header's fields."""
    fields: dict[str, str] = {}
    start = START.search(text)
    if start:
        fields = {m.group(1).lower(): m.group(2).strip() for m in FIELD.finditer(text[:start.start("line")])}
        text = text[start.end():]
    end = END.search(text)
    return (text[:end.start("line")] if end else text), fields


def _language(name: str) -> str:
    """``English`` -> ``en`` (the header names languages in English)."""
    found = pycountry.languages.get(name=name.split(",")[0].strip())
    return str(getattr(found, "alpha_2", "") or "") if found else ""


BYLINE = re.compile(r"^(by|von|par|di|por)(\s+(?P<name>.+))?$", re.IGNORECASE)


def _title_page(blocks: list[Block]) -> tuple[str, str]:
    """(title, author) from the lines before the first chapter: the first line, and "by NAME"."""
    def person(text: str) -> str:
        return text.title() if text.isupper() else text

    texts = [b.text for b in blocks if len(b.text) <= 120]
    author = ""
    for number, text in enumerate(texts):
        byline = BYLINE.match(text)
        if byline:
            author = byline["name"] or (texts[number + 1] if number + 1 < len(texts) else "")
            break
    return (person(texts[0]) if texts else ""), person(author.strip())


def read_text(data: bytes, fallback_title: str) -> Book:
    """A plain-text book as a Book; raises EbookError when it has nothing to read."""
    body, fields = gutenberg_body(decode(data))
    return text_book(body, fallback_title, fields.get("title", ""), fields.get("author", ""),
                     _language(fields["language"]) if "language" in fields else "")


def caps_heading(lines: list[str]) -> str:
    """A title in capitals alone on its line ("LA TORTUGA GIGANTE"): a heading in a book that has
    no other kind (the text is then cut at those that open prose, as HTML's headings are)."""
    bare = lines[0].strip()
    if len(lines) == 1 and 3 <= len(bare) <= 60 and " " in bare and bare.isupper() and bare[-1:] not in ".!?,;:":
        return bare
    return ""


SPACED_TITLE_CHARS = 60


def spaced_heading(lines: list[str], gap: int, usual: int) -> bool:
    """A title set apart: one short line, not indented and not ending a sentence, with more blank
    lines before it than the text leaves between paragraphs (Walden's "Economy", "Reading")."""
    bare = lines[0].strip()
    return (len(lines) == 1 and gap > usual and 0 < len(bare) <= SPACED_TITLE_CHARS and not lines[0][:1].isspace()
            and bare[-1:] not in ".,;:!?—-" and title_case(bare))


SMALL_WORDS = frozenset(["a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to",
                         "with"])


def title_case(text: str) -> bool:
    """Is every word but the small ones capitalised ("Where I Lived, and What I Lived For")?"""
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", text) if w.lower() not in SMALL_WORDS]
    return bool(words) and text[:1].isupper() and all(w[:1].isupper() for w in words)


def _at_other_headings(paragraphs: list[list[str]], gaps: list[int], title: str) -> tuple[Chapter, ...]:
    """Chapters for a text with no heading lines: at titles in capitals alone on their line
    (:func:`caps_heading`) or at titles set apart by blank lines (:func:`spaced_heading`),
    whichever makes more chapters; () when neither cuts it into chapters."""
    usual = Counter(gaps).most_common(1)[0][0] if gaps else 1
    best: tuple[Chapter, ...] = ()
    for found in ([bool(caps_heading(lines)) for lines in paragraphs],
                  [spaced_heading(lines, gap, usual) for lines, gap in zip(paragraphs, gaps, strict=True)]):
        blocks = [Block(text=" ".join(line.strip() for line in lines), heading=is_heading, level=2 if is_heading else 0)
                  for lines, is_heading in zip(paragraphs, found, strict=True)]
        if sum(found) >= 2 and chapter_levels(blocks)[0]:
            drafts, _ = at_headings(blocks, title, front=False)
            kept = kept_or_all(drafts)
            if len(kept) > len(best):
                best = chapters_of(kept)
    return best


def text_book(body: str, fallback_title: str, title: str = "", author: str = "", language: str = "") -> Book:
    """Text with blank lines between paragraphs as a Book: chapters at heading lines."""
    pieces = re.split(r"(\n(?:[ \t]*\n)+)", "\n" + body)  # paragraphs, and the blank lines between them
    paragraphs: list[list[str]] = []
    gaps: list[int] = []
    for number in range(0, len(pieces), 2):
        lines = [line for line in pieces[number].split("\n") if line.strip()]
        if lines:
            paragraphs.append(lines)
            gaps.append(pieces[number - 1].count("\n") - 1 if number else 0)
    if not any(heading(lines) for lines in paragraphs):
        chapters = _at_other_headings(paragraphs, gaps, title or fallback_title)
        if chapters:
            return Book(title=(title or fallback_title)[:200], author=author, language=language, chapters=chapters)
    drafts: list[Draft] = []
    front = Draft(title="")
    current = front
    headings = 0
    for lines in paragraphs:
        text = " ".join(line.strip() for line in lines)
        if CONTENTS.match(lines[0]) or ILLUSTRATION.match(text) or contents_list(lines):
            continue
        opened = heading(lines)
        if opened:
            current = Draft(title=opened, blocks=[Block(text=unwrap_emphasis(text), heading=True)])  # read, as EPUB
            drafts.append(current)
            headings += 1
            continue
        current.blocks.append(Block(text=unwrap_emphasis(text)))
    found_title, found_author = _title_page(front.blocks)
    prose = next((i for i, b in enumerate(front.blocks)
                  if len(b.text) >= PROSE_BLOCK_CHARS and not PRODUCER_LINE.match(b.text)), len(front.blocks))
    if headings:
        front.blocks = front.blocks[prose:]  # the title page's lines are not read
    title = title or found_title or fallback_title
    author = author or found_author
    drafts = [front, *drafts] if headings else [Draft(title=title, blocks=front.blocks)]
    name_parts(drafts)
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the file has no paragraphs to read")
    if kept[0] is front:
        front.title = title
    return Book(title=title[:200], author=author, language=language, chapters=chapters_of(kept))
