"""Read a FictionBook 2 (FB2) book into a Book with lxml (pure but for reading bytes).

FB2 is one XML file: ``description/title-info`` holds the title, authors, language, year and
annotation; the first ``body`` holds the text as nested ``section``s, each with its ``title``;
further bodies are notes and comments, not read. A top-level section is a chapter; a section
inside it is a chapter titled with its parent's title too ("Part One — I"), and deeper
sections are read inside theirs. Epigraphs, poems and citations are read as paragraphs; the
cover is the ``coverpage`` image, held in the file as base64. A zipped FB2 (``.fb2.zip``, as
most libraries serve them) is read from the one ``.fb2`` it holds.
"""

from __future__ import annotations

import base64
import binascii
import zipfile
from pathlib import Path

from lxml import etree

from services.parse.book import Book, Cover, EbookError
from services.parse.limits import BookLimits, BookTooBig
from services.parse.readers.drafts import (
    SMALL_ENTRY_WORDS,
    TITLE_JOIN,
    Draft,
    absorb_small,
    bounded_warnings,
    chapters_of,
    keep,
)
from services.parse.readers.xhtml import Block, named_entities_as_numbers, safe_xml_parser, unread

NS = "{http://www.gribuser.ru/xml/fictionbook/2.0}"
XLINK = "{http://www.w3.org/1999/xlink}href"
TEXT_TAGS = frozenset({"p", "v", "subtitle", "text-author"})  # v: a poem's line
MAX_DEPTH = 2


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _text(el: etree._Element) -> str:
    return " ".join("".join(el.itertext()).split())


def _read(child: etree._Element, depth: int, out: list[Block]) -> None:
    """One element of a section as paragraphs (a deeper section's title read as a heading)."""
    tag = _local(child)
    if tag == "title":
        if text := _title_text(child):
            out.append(Block(text=text, heading=True, level=min(depth, 6)))
    elif tag in TEXT_TAGS:
        if text := _text(child):
            out.append(Block(text=text))
    elif tag in ("epigraph", "poem", "stanza", "cite", "section"):
        for grandchild in child:
            _read(grandchild, depth + (tag == "section"), out)


def _title_text(title: etree._Element) -> str:
    """A ``<title>``'s paragraphs as one line."""
    return " ".join(_text(p) for p in title if _local(p) == "p")


def _title(section: etree._Element) -> str:
    title = section.find(f"{NS}title")
    return _title_text(title) if title is not None else ""


def _drafts(sections: list[etree._Element], parent: str = "", depth: int = 1) -> list[Draft]:
    """A draft per section down to MAX_DEPTH. A parent's own text before its first sub-section (a
    part's title page, an epigraph) opens its first sub-section's draft, unless it is a chapter's
    worth of text (SMALL_ENTRY_WORDS or more), which is a draft of its own."""
    drafts: list[Draft] = []
    for section in sections:
        own = _title(section)
        draft = Draft(title=TITLE_JOIN.join(t for t in (parent, own) if t))
        children = [c for c in section if _local(c) == "section"]
        split = bool(children) and depth < MAX_DEPTH
        for child in section:
            if split and _local(child) == "section":
                break
            _read(child, depth, draft.blocks)
        if not split:
            drafts.append(draft)
            continue
        inner = _drafts(children, own, depth + 1)
        if draft.words >= SMALL_ENTRY_WORDS or not inner:
            drafts.append(draft)
        else:
            inner[0].blocks[:0] = draft.blocks
        drafts.extend(inner)
    return drafts


def _cover(root: etree._Element) -> Cover | None:
    image = root.find(f".//{NS}coverpage/{NS}image")
    href = (image.get(XLINK) or "") if image is not None else ""
    if not href.startswith("#"):
        return None
    for binary in root.iter(f"{NS}binary"):
        if binary.get("id") == href[1:] and binary.get("content-type") in ("image/jpeg", "image/png"):
            try:
                return Cover(data=base64.b64decode(binary.text or "", validate=False),
                             media_type=str(binary.get("content-type")))
            except (binascii.Error, ValueError):
                return None
    return None


def read_fb2(content: bytes, fallback_title: str) -> Book:
    """An FB2 document as a Book; raises EbookError when it is not FB2 or has no text."""
    parser = safe_xml_parser()
    try:
        root = etree.fromstring(named_entities_as_numbers(content), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise EbookError(f"not a readable FB2 book: {exc}") from None
    lost = [f"the FB2 book: {reason}" for reason in unread(root, parser.error_log)]
    if root is None or _local(root) != "FictionBook":
        raise EbookError("not a readable FB2 book: no <FictionBook> document")
    info = root.find(f"{NS}description/{NS}title-info")
    body = root.find(f"{NS}body")
    if body is None:
        raise EbookError("no readable text: the FB2 book has no <body>")

    def field(path: str) -> str:
        found = info.find(path) if info is not None else None
        return _text(found) if found is not None else ""

    author = " ".join(filter(None, (field(f"{NS}author/{NS}first-name"), field(f"{NS}author/{NS}middle-name"),
                                    field(f"{NS}author/{NS}last-name"))))
    sections = [c for c in body if _local(c) == "section"]
    drafts = absorb_small(keep(_drafts(sections)))
    if not drafts:
        raise EbookError("no readable text: the FB2 book has no sections with text to read"
                         + (f" ({lost[0]})" if lost else ""))
    year = field(f"{NS}date")[:4]
    return Book(title=field(f"{NS}book-title") or fallback_title, author=author, language=field(f"{NS}lang"),
                chapters=chapters_of(drafts), cover=_cover(root), year=year if year.isdigit() else "",
                description=field(f"{NS}annotation"), warnings=bounded_warnings(lost))


def read_fb2_zip(path: Path, limits: BookLimits, fallback_title: str) -> Book:
    """A zipped FB2 (``book.fb2.zip``): the one ``.fb2`` inside, read at most to the member size limit."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if i.filename.lower().endswith(".fb2")]
            if len(members) != 1:
                raise EbookError(f"not a readable FB2 archive: it holds {len(members)} .fb2 files, not one")
            with archive.open(members[0]) as member:
                data = member.read(limits.max_member_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise EbookError(f"not a readable FB2 archive: {exc}") from None
    if len(data) > limits.max_member_bytes:
        raise BookTooBig(f"refused: the FB2 book unpacks to more than {limits.max_member_bytes // 2**20} MiB")
    return read_fb2(data, fallback_title)
