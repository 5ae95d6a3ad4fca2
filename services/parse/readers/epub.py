"""Read an EPUB 2 or 3 into a Book: chapters from the TOC (nav or NCX), in spine order."""

from __future__ import annotations

import contextlib
import posixpath
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import ebooklib
from ebooklib import epub
from lxml import etree
from lxml import html as lxml_html

from services.parse.book import Book, Cover, EbookError
from services.parse.limits import BookLimits, BookTooBig
from services.parse.readers.archive import check_archive
from services.parse.readers.drafts import TITLE_JOIN, Draft, absorb_small, bounded_warnings, chapters_of, keep
from services.parse.readers.repair import mend_epub
from services.parse.readers.xhtml import Anchor, Block, flatten, is_markup
from services.parse.segmenter import fold
from services.scratch import scratch_folder


def _meta(book: epub.EpubBook, name: str) -> str:
    values = book.get_metadata("DC", name)
    return str(values[0][0]).strip() if values and values[0][0] else ""


MAX_DEPTH = 2  # deeper TOC entries are finer marks inside their chapter, not chapters


def _toc_entries(toc: Any, parent: str = "", depth: int = 1, book_title: str = "") -> list[tuple[str, str]]:
    """(title, href) of every TOC entry down to MAX_DEPTH, depth first.

    A sub-entry's title keeps its parent's: "Part One — I.", so a part or a story's name never
    disappears behind numerals. An entry that stands for the whole book (the only top entry, or
    one titled as the book, beside a cover and a colophon) is read from its children.
    """
    if depth == 1 and len(toc) == 1 and isinstance(toc[0], tuple) and toc[0][1]:
        section, children = toc[0]
        own = [(section.title or "", section.href)] if getattr(section, "href", None) else []
        return own + _toc_entries(children, "", 1)
    out: list[tuple[str, str]] = []
    repeated = Counter(fold(e[0].title or "") for e in toc if isinstance(e, tuple) and e[1])
    for entry in toc:
        section, children = entry if isinstance(entry, tuple) else (entry, [])
        title = " ".join((section.title or "").split())
        named = TITLE_JOIN.join(t for t in (parent, title) if t) if parent and parent not in title else title
        if getattr(section, "href", None):
            out.append((named, section.href))
        if children and (repeated[fold(title)] > 1 or (depth == 1 and fold(title) == fold(book_title))):
            # a running title over every part ("PUBLI VERGILI MARONIS" > "AENEIDOS" > "LIBER I"), or the
            # book's own entry holding its chapters: the entries under it stand in its place
            out.extend(_toc_entries(children, parent, depth, book_title))
        elif children and depth < MAX_DEPTH:
            out.extend(_toc_entries(children, title, depth + 1))
    return out


GENERIC_TITLE = re.compile(r"^\W*(start|begin|beginning|text|main text|content|untitled|section \d+)\W*$",
                           re.IGNORECASE)


def _named(drafts: list[Draft], book_title: str) -> list[Draft]:
    """A chapter a converter labelled with no name ("Start", calibre's) takes its first heading's
    text, else the book's title."""
    for draft in drafts:
        if GENERIC_TITLE.match(draft.title):
            first = draft.blocks[0] if draft.blocks else None
            draft.title = first.text if first is not None and first.heading else book_title
    return drafts


# "(Spanish Edition)" (each run of spaces and each bracket's text scanned once: linear)
EDITION = re.compile(r"(?<!\s)\s*[(\[](?=[^()\[\]]*\bedition\b)[^()\[\]]*+[)\]]\s*$", re.IGNORECASE)


def _split_href(href: str) -> tuple[str, str | None]:
    path, _, frag = href.partition("#")
    return posixpath.normpath(unquote(path)), (unquote(frag) or None)


YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")


def _year(book: epub.EpubBook) -> str:
    """The publication year from ``dc:date`` (the first date given), or ""."""
    found = YEAR.search(_meta(book, "date"))
    return found.group(1) if found else ""


def _description(book: epub.EpubBook) -> str:
    """``dc:description`` as plain text (publishers often put HTML in it)."""
    raw = _meta(book, "description")
    if "<" in raw:
        with contextlib.suppress(etree.ParserError, ValueError):
            raw = lxml_html.fromstring(raw).text_content()
    return " ".join(raw.split())


def _cover(book: epub.EpubBook) -> Cover | None:
    candidates: list[Any] = []
    cover_meta = book.get_metadata("OPF", "cover")
    cover_id = cover_meta[0][1].get("content") if cover_meta else None
    for item in book.get_items():
        media = getattr(item, "media_type", "") or ""
        if media not in ("image/jpeg", "image/png"):
            continue
        if item.get_type() == ebooklib.ITEM_COVER or item.get_id() == cover_id:
            candidates.insert(0, item)
        elif "cover" in (item.get_name() or "").lower():
            candidates.append(item)
    if not candidates:
        return None
    item = candidates[0]
    return Cover(data=item.get_content(), media_type=item.media_type)


def _read(path: Path) -> epub.EpubBook:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as exc:  # ebooklib raises many types on broken input
        raise EbookError(f"not a readable EPUB: {exc}") from None


def _linear_documents(book: epub.EpubBook, warnings: list[str]) -> list[tuple[str, bytes]]:
    """The reading order's documents; one that is not markup at all is skipped, with a warning."""
    docs = []
    for entry in book.spine:
        idref, linear = entry if isinstance(entry, tuple) else (entry, "yes")
        if idref is None or str(linear).lower() == "no":
            continue
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        # the file's own bytes: get_content() re-serializes a document through ebooklib's parser
        name, content = posixpath.normpath(unquote(item.get_name())), item.content
        if not is_markup(content):
            warnings.append(f"{name} is not readable XHTML; its text is not read")
            continue
        docs.append((name, content))
    return docs


def _flatten(name: str, content: bytes, targets: set[str], warnings: list[str]) -> list[Block | Anchor]:
    """One document's blocks and anchors; what of its text could not be read is said in ``warnings``."""
    lost: list[str] = []
    pieces = flatten(content, targets, lost)
    warnings.extend(f"{name}: {reason}" for reason in lost)
    return pieces


def _drafts(docs: list[tuple[str, bytes]], toc: list[tuple[str, str]], warnings: list[str]) -> list[Draft]:
    """Cut the spine's text at TOC targets; text before the first target is not a chapter."""
    starts: dict[tuple[str, str | None], list[str]] = {}
    pending: dict[str, set[str | None]] = {}  # per document, the targets not reached yet (linear, not n^2)
    spelled = {name.lower(): name for name, _ in docs}  # a TOC href in another case than the file's
    for title, href in toc:
        path, frag = _split_href(href)
        key = (spelled.get(path.lower(), path), frag)
        starts.setdefault(key, []).append(title)
        pending.setdefault(key[0], set()).add(key[1])
    drafts: list[Draft] = []
    current: Draft | None = None

    def open_chapters(key: tuple[str, str | None]) -> None:
        nonlocal current
        pending.get(key[0], set()).discard(key[1])
        for title in starts.pop(key, []):
            current = Draft(title=title.strip())
            drafts.append(current)

    for name, content in docs:
        open_chapters((name, None))
        targets = {frag for frag in pending.get(name, ()) if frag}
        if not targets and current is None and not pending.get(name):
            continue  # front matter before the first TOC target: nothing to read
        for piece in _flatten(name, content, targets, warnings):
            if isinstance(piece, Anchor):
                open_chapters((name, piece.id))
            elif current is not None:
                current.blocks.append(piece)
    return drafts


def _fallback_drafts(docs: list[tuple[str, bytes]], warnings: list[str]) -> list[Draft]:
    """Without a usable TOC: one chapter per spine document, titled by its first heading."""
    drafts = []
    for number, (name, content) in enumerate(docs, start=1):
        blocks = [b for b in _flatten(name, content, set(), warnings) if isinstance(b, Block)]
        title = next((b.text for b in blocks if b.heading), f"Chapter {number}")
        drafts.append(Draft(title=title[:120], blocks=blocks))
    return drafts


def read_epub(path: Path, limits: BookLimits | None = None) -> Book:
    """Parse an EPUB file into a Book; raises EbookError with a reason a person understands."""
    check_archive(path, limits)
    with scratch_folder("epub") as tmp:
        readable, warnings = mend_epub(path, Path(tmp))
        book = _read(readable)
        docs = _linear_documents(book, warnings)
    if not docs:
        raise EbookError("no readable text: the EPUB's reading order (spine) is empty")
    title = EDITION.sub("", _meta(book, "title")) or path.stem
    toc = _toc_entries(book.toc, book_title=title)
    limits = limits or BookLimits()
    if len(toc) > limits.max_toc_entries:
        raise BookTooBig(f"the table of contents has {len(toc):,} entries; this server accepts up to "
                         f"{limits.max_toc_entries:,}")
    drafts = _named(absorb_small(keep(_drafts(docs, toc, warnings), title)), title)
    if not drafts:
        drafts = keep(_fallback_drafts(docs, warnings))
    if not drafts:
        raise EbookError("no readable text: the EPUB has no chapters with text to read"
                         + (f" ({warnings[0]})" if warnings else ""))
    chapters = chapters_of(drafts)
    return Book(
        title=title,
        author=_meta(book, "creator"),
        language=_meta(book, "language"),  # "" if undeclared: services.parse.language decides
        chapters=chapters,
        cover=_cover(book),
        warnings=bounded_warnings(warnings),
        year=_year(book), publisher=_meta(book, "publisher"), description=_description(book),
    )
