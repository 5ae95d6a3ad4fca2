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

import pycountry
from charset_normalizer import from_bytes

from services.parse.book import Book, EbookError
from services.parse.drafts import Draft, chapters_of, kept_or_all
from services.parse.xhtml import ILLUSTRATION, Block

START = re.compile(r"^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.MULTILINE | re.IGNORECASE)
END = re.compile(r"^\s*(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                 re.MULTILINE | re.IGNORECASE)
FIELD = re.compile(r"^(Title|Author|Language):\s*(.+)$", re.MULTILINE)
HEADING = re.compile(
    r"^(?:(?:chapter|letter|part|book|volume|stave|canto|section|epilogue|prologue|kapitel|teil|buch|"
    r"chapitre|livre|partie|tome|cap[ií]tulo|libro|parte)\b(?:\s+(?:[IVXLCDM]+|\d+|[A-Za-z]+))?\.?"
    r"(?:\s*[.:—–-]?\s+.{1,70})?|[IVXLCDM]{1,7}\.?|\d{1,3}\.)$",
    re.IGNORECASE,
)
CONTENTS = re.compile(r"^\s*(table of )?contents|inhalt|table des mati[eè]res|sommaire\s*$", re.IGNORECASE)
EMPHASIS = re.compile(r"(?<!\w)_(\S(?:.*?\S)?)_(?!\w)")


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
        fields = {m.group(1).lower(): m.group(2).strip() for m in FIELD.finditer(text[:start.start()])}
        text = text[start.end():]
    end = END.search(text)
    return (text[:end.start()] if end else text), fields


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


def text_book(body: str, fallback_title: str, title: str = "", author: str = "", language: str = "") -> Book:
    """Text with blank lines between paragraphs as a Book: chapters at heading lines."""
    drafts: list[Draft] = []
    front = Draft(title="")
    current = front
    headings = 0
    for raw in re.split(r"\n\s*\n", body):
        lines = [line for line in raw.split("\n") if line.strip()]
        if not lines:
            continue
        text = " ".join(line.strip() for line in lines)
        if len(lines) == 1 and not lines[0][:1].isspace() and HEADING.match(text):
            current = Draft(title=text.rstrip("."), blocks=[Block(text=text, heading=True)])  # read, as in an EPUB
            drafts.append(current)
            headings += 1
            continue
        if CONTENTS.match(lines[0]) or ILLUSTRATION.match(text) or (
                len(lines) > 1 and all(HEADING.match(line.strip()) for line in lines)):
            continue  # a contents list: a title, or lines that are all chapter headings
        current.blocks.append(Block(text=EMPHASIS.sub(r"\1", text)))
    found_title, found_author = _title_page(front.blocks)
    title = title or found_title or fallback_title
    author = author or found_author
    drafts = [front, *drafts] if headings else [Draft(title=title, blocks=front.blocks)]
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the file has no paragraphs to read")
    if kept[0] is front:
        front.title = title
    return Book(title=title[:200], author=author, language=language, chapters=chapters_of(kept))
