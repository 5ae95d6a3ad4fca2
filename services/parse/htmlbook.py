"""Read an HTML (or Markdown) book into a Book: chapters at its headings (pure but for reading bytes).

The chapter level is the shallowest heading level that occurs more than once (a lone ``h1`` is
the book's title, ``h2`` its chapters); a book with no repeated heading is one chapter. The
title comes from ``<title>`` (else the first heading), the author from ``<meta name="author">``,
the language from ``<html lang>``. Project Gutenberg's header and licence are dropped like an
EPUB's.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from services.parse.book import Book, EbookError
from services.parse.drafts import at_headings, chapters_of, kept_or_all
from services.parse.xhtml import Block, flatten, parse_document


def _meta(content: bytes) -> tuple[str, str, str]:
    """(title, author, language) from the document's head."""
    root = parse_document(content)
    title = author = language = ""
    for el in root.iter():
        tag = str(el.tag).rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""
        if tag == "html":
            language = el.get("lang") or el.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
        elif tag == "title" and not title:
            title = " ".join("".join(el.itertext()).split())
        elif tag == "meta" and (el.get("name") or "").lower() in ("author", "dc.creator") and not author:
            author = (el.get("content") or "").strip()
    return title, author, language


def read_html(content: bytes, fallback_title: str, language: str = "") -> Book:
    """An HTML document as a Book; raises EbookError when it has no text to read."""
    blocks = [b for b in flatten(content, set()) if isinstance(b, Block)]
    title, author, declared = _meta(content)
    drafts, title = at_headings(blocks, title)
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the document has no paragraphs to read")
    return Book(title=title or fallback_title, author=author, language=language or declared,
                chapters=chapters_of(kept))


def read_markdown(text: str, fallback_title: str) -> Book:
    """A Markdown book: rendered to HTML by markdown-it-py, then read as HTML (``#`` headings)."""
    html = MarkdownIt("commonmark").render(text)
    return read_html(f"<html><body>{html}</body></html>".encode(), fallback_title)
