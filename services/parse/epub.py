"""Read an EPUB 2 or 3 into a Book: chapters from the TOC (nav or NCX), in spine order."""

from __future__ import annotations

import posixpath
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import ebooklib
from ebooklib import epub

from services.parse.archive import check_archive
from services.parse.book import Book, Cover, EbookError
from services.parse.drafts import Draft, chapters_of, keep
from services.parse.limits import BookLimits, BookTooBig
from services.parse.xhtml import Anchor, Block, flatten


def _meta(book: epub.EpubBook, name: str) -> str:
    values = book.get_metadata("DC", name)
    return str(values[0][0]).strip() if values and values[0][0] else ""


def _toc_entries(toc: Any) -> list[tuple[str, str]]:
    """(title, href) of every TOC entry, depth first."""
    out: list[tuple[str, str]] = []
    for entry in toc:
        if isinstance(entry, tuple):
            section, children = entry
            if getattr(section, "href", None):
                out.append((section.title or "", section.href))
            out.extend(_toc_entries(children))
        elif getattr(entry, "href", None):
            out.append((entry.title or "", entry.href))
    return out


def _split_href(href: str) -> tuple[str, str | None]:
    path, _, frag = href.partition("#")
    return posixpath.normpath(unquote(path)), (unquote(frag) or None)


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


def _linear_documents(book: epub.EpubBook) -> list[tuple[str, bytes]]:
    docs = []
    for entry in book.spine:
        idref, linear = entry if isinstance(entry, tuple) else (entry, "yes")
        if idref is None or str(linear).lower() == "no":
            continue
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        docs.append((posixpath.normpath(item.get_name()), item.get_content()))
    return docs


def _drafts(docs: list[tuple[str, bytes]], toc: list[tuple[str, str]]) -> list[Draft]:
    """Cut the spine's text at TOC targets; text before the first target is not a chapter."""
    starts: dict[tuple[str, str | None], list[str]] = {}
    pending: dict[str, set[str | None]] = {}  # per document, the targets not reached yet (linear, not n^2)
    for title, href in toc:
        key = _split_href(href)
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
        for piece in flatten(content, targets):
            if isinstance(piece, Anchor):
                open_chapters((name, piece.id))
            elif current is not None:
                current.blocks.append(piece)
    return drafts


def _fallback_drafts(docs: list[tuple[str, bytes]]) -> list[Draft]:
    """Without a usable TOC: one chapter per spine document, titled by its first heading."""
    drafts = []
    for number, (_, content) in enumerate(docs, start=1):
        blocks = [b for b in flatten(content, set()) if isinstance(b, Block)]
        title = next((b.text for b in blocks if b.heading), f"Chapter {number}")
        drafts.append(Draft(title=title[:120], blocks=blocks))
    return drafts


def read_epub(path: Path, limits: BookLimits | None = None) -> Book:
    """Parse an EPUB file into a Book; raises EbookError with a reason a person understands."""
    check_archive(path, limits)
    book = _read(path)
    docs = _linear_documents(book)
    if not docs:
        raise EbookError("no readable text: the EPUB's reading order (spine) is empty")
    toc = _toc_entries(book.toc)
    limits = limits or BookLimits()
    if len(toc) > limits.max_toc_entries:
        raise BookTooBig(f"the table of contents has {len(toc):,} entries; this server accepts up to "
                         f"{limits.max_toc_entries:,}")
    drafts = keep(_drafts(docs, toc))
    if not drafts:
        drafts = keep(_fallback_drafts(docs))
    if not drafts:
        raise EbookError("no readable text: the EPUB has no chapters with text to read")
    chapters = chapters_of(drafts)
    return Book(
        title=_meta(book, "title") or path.stem,
        author=_meta(book, "creator"),
        language=_meta(book, "language"),  # "" if undeclared: services.parse.language decides
        chapters=chapters,
        cover=_cover(book),
    )
