"""Read an HTML (or Markdown) book into a Book: chapters at its headings (pure but for reading bytes).

The chapter level is the shallowest heading level that occurs more than once (a lone ``h1`` is
the book's title, ``h2`` its chapters); a book with no repeated heading is one chapter. The
title comes from ``<title>`` (else the first heading), the author from ``<meta name="author">``,
the language from ``<html lang>``. Project Gutenberg's header and licence are dropped like an
EPUB's.
"""

from __future__ import annotations

import re
from dataclasses import replace

from markdown_it import MarkdownIt

from services.parse.book import Book, EbookError
from services.parse.readers.drafts import at_headings, bounded_warnings, chapters_of, kept_or_all
from services.parse.readers.xhtml import Block, flatten, parse_document


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


# (the second form is first checked to end as it must: else every " by " in a long title was tried to its end)
GUTENBERG_TITLE = re.compile(r"^(the )?project gutenberg('s)? e-?(book|text) of (?P<a>.+?)(,? by .*)?$|"
                             r"^(?=.*, a project gutenberg e-?(?:book|text)$)"
                             r"(?P<b>.+?)(,? by .*)?, a project gutenberg e-?(book|text)$", re.IGNORECASE)


def book_title(title: str) -> str:
    """A document title without Project Gutenberg's wrapping ("The Project Gutenberg eBook of X, by Y")."""
    found = GUTENBERG_TITLE.match(title.strip())
    return (found.group("a") or found.group("b")).strip() if found else title


def read_html(content: bytes, fallback_title: str, language: str = "") -> Book:
    """An HTML document as a Book; raises EbookError when it has no text to read (and warns of text
    it could not)."""
    lost: list[str] = []
    blocks = [b for b in flatten(content, set(), lost) if isinstance(b, Block)]
    title, author, declared = _meta(content)
    title = book_title(title)
    drafts, title = at_headings(blocks, title)
    kept = kept_or_all(drafts)
    if not kept:
        raise EbookError("no readable text: the document has no paragraphs to read"
                         + (f" ({lost[0]})" if lost else ""))
    return Book(title=title or fallback_title, author=author, language=language or declared,
                chapters=chapters_of(kept), warnings=bounded_warnings(f"the document: {reason}" for reason in lost))


# the value up to its last non-space ("(.*?)\s*$" tried the spaces after every character: quadratic)
META_LINE = re.compile(r"^#*\s*(title|author|year|date|language|lang)\s*:\s*((?:.*\S)?)\s*$", re.IGNORECASE)
RULE_LINE = re.compile(r"^\s*([-*_]\s*){3,}$")
# kramdown's "{:.poetry}": styling, not text. One that is not closed on its line is passed over whole (tried again
# from each "{:" in it, a line of them took quadratic time)
ATTRIBUTE_LIST = re.compile(r"\{:[^}\n]*+(\})?")


def _without_attribute_lists(text: str) -> str:
    return ATTRIBUTE_LIST.sub(lambda m: "" if m.group(1) else m.group(0), text)


def markdown_metadata(text: str) -> tuple[dict[str, str], str]:
    """The book's metadata and the text after it: a YAML front matter block (``---`` ... ``---``),
    a Pandoc title block (``% Title`` / ``% Author``) or labelled lines at the top (``Title: ...``,
    ``# Title: ...``); the metadata is not read aloud."""
    lines = text.split("\n")
    meta: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
        if end:
            for line in lines[1:end]:
                found = META_LINE.match(line)
                if found and not line[:1].isspace():
                    meta.setdefault(found.group(1).lower(), found.group(2).strip("'\""))
            lines = lines[end + 1:]
    elif lines and lines[0].startswith("%"):
        block = [line[1:].strip() for line in lines[:3] if line.startswith("%")]
        meta.update(zip(("title", "author", "date"), block, strict=False))
        lines = lines[len(block):]
    else:
        position = 0
        while position < len(lines) and (not lines[position].strip() or RULE_LINE.match(lines[position])
                                         or META_LINE.match(lines[position])):
            found = META_LINE.match(lines[position])
            if found:
                meta.setdefault(found.group(1).lower(), found.group(2))
            position += 1
        if meta:
            lines = lines[position:]
    return meta, "\n".join(lines)


MARKDOWN_NESTING = 100  # markdown-it reads no deeper (its default, 20 levels, dropped a list 10 deep in silence)


def _markdown_html(text: str) -> tuple[str, list[str]]:
    """Markdown as HTML, and why some of it was not read (lists and quotes nested past MARKDOWN_NESTING)."""
    markdown = MarkdownIt("commonmark", {"maxNesting": MARKDOWN_NESTING})
    tokens = markdown.parse(text)
    deep = any(token.level >= MARKDOWN_NESTING - 1 for token in tokens)
    lost = [f"the document: text nested deeper than {MARKDOWN_NESTING} levels (lists, quotes) was not read"]
    return markdown.renderer.render(tokens, markdown.options, {}), lost if deep else []


def read_markdown(text: str, fallback_title: str) -> Book:
    """A Markdown book: its metadata (:func:`markdown_metadata`), then its text rendered to HTML by
    markdown-it-py and read as HTML (``#`` headings)."""
    meta, text = markdown_metadata(text)
    html, lost = _markdown_html(_without_attribute_lists(text))
    book = read_html(f"<html><body>{html}</body></html>".encode(), fallback_title,
                     meta.get("language") or meta.get("lang") or "")
    return replace(book, title=meta.get("title") or book.title, author=meta.get("author") or book.author,
                   warnings=bounded_warnings([*lost, *book.warnings]))
