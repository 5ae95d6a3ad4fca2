"""Flatten one XHTML document into readable blocks and anchor markers (pure).

Skipped: markup that is not read aloud (scripts, images and their alt text, figures,
page numbers, footnote markers and footnotes) and front/back matter marked with
``epub:type`` landmarks (title page, imprint, colophon, copyright, contents, index)
or Project Gutenberg boilerplate.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass

from lxml import etree

EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"

SKIP_TAGS = frozenset({
    "head", "script", "style", "img", "svg", "math", "figure", "nav", "audio", "video",
    "object", "iframe", "rt", "rp", "template", "noscript", "button", "input", "select",
})
BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dd", "dt",
    "td", "th", "tr", "section", "article", "header", "footer", "aside", "body", "figcaption",
    "caption", "table", "ul", "ol", "dl", "main", "hr", "address", "center", "hgroup",
})
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
SKIP_EPUB_TYPES = frozenset({
    "pagebreak", "noteref", "footnote", "footnotes", "endnote", "endnotes", "rearnote",
    "rearnotes", "toc", "landmarks", "loi", "lot", "page-list", "titlepage", "halftitlepage",
    "imprint", "colophon", "copyright-page", "cover", "index", "seriespage", "bibliography",
})
SKIP_ROLES = frozenset({
    "doc-pagebreak", "doc-noteref", "doc-footnote", "doc-endnotes", "doc-endnote",
    "doc-toc", "doc-index", "doc-colophon", "doc-pagelist", "doc-bibliography", "presentation",
})
SKIP_CLASSES = frozenset({
    "pagenum", "pageno", "page-number", "x-ebookmaker-pageno", "pg-boilerplate",
    "pgheader", "pgfooter", "footnote", "footnotes", "noteref", "transnote", "tnote", "transcriber-note",
})
SKIP_IDS = frozenset({"pg-header", "pg-footer"})
NOTE_MARKER = re.compile(r"^\W*(\d{1,3}|[ivxlc]{1,6}|[*†‡§¶])\W*$", re.IGNORECASE)
ILLUSTRATION = re.compile(r"^\[\s*illustration\b.*\]$", re.IGNORECASE | re.DOTALL)
SPACE = re.compile(r"\s+")


@dataclass
class Block:
    """One paragraph-level piece of readable text."""

    text: str
    heading: bool = False
    link_chars: int = 0
    level: int = 0  # 1-6 for h1-h6, 0 for the rest


@dataclass(frozen=True)
class Anchor:
    """A position in the document that a TOC entry may point at."""

    id: str


def _local(tag: object) -> str:
    """An element's name without namespace or prefix (old Kindle HTML has ``<mbp:pagebreak>``)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _skipped(el: etree._Element, tag: str) -> bool:
    if tag in SKIP_TAGS:
        return True
    types = set((el.get(EPUB_TYPE) or el.get("epub:type") or "").split())
    if types & SKIP_EPUB_TYPES:
        return True
    if el.get("role") in SKIP_ROLES or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if set((el.get("class") or "").split()) & SKIP_CLASSES or el.get("id") in SKIP_IDS:
        return True
    if "display:none" in (el.get("style") or "").replace(" ", "").lower():
        return True
    if tag in ("sup", "a") and (tag == "sup" or el.get("href")):
        text = "".join(el.itertext()).strip()
        if text and NOTE_MARKER.match(text):
            return True
    return False


class _Flattener:
    def __init__(self, targets: set[str]) -> None:
        self.targets = targets
        self.out: list[Block | Anchor] = []
        self.parts: list[str] = []
        self.link_chars = 0
        self.heading = False
        self.level = 0

    def flush(self) -> None:
        text = SPACE.sub(" ", INVISIBLE.sub("", "".join(self.parts))).strip()
        if text and not ILLUSTRATION.match(text):
            self.out.append(Block(text=text, heading=self.heading, link_chars=self.link_chars, level=self.level))
        self.parts, self.link_chars, self.heading, self.level = [], 0, False, 0

    def walk(self, el: etree._Element, in_link: bool = False) -> None:
        tag = _local(el.tag)
        if not tag:  # comments, processing instructions
            return
        anchor = el.get("id") or (el.get("name") if tag == "a" else None)
        if anchor and anchor in self.targets:
            self.flush()
            self.out.append(Anchor(anchor))
        if _skipped(el, tag):
            return
        block = tag in BLOCK_TAGS
        if block:
            self.flush()
        if tag in HEADING_TAGS:
            self.heading, self.level = True, int(tag[1])
        if tag == "br":
            self.parts.append(" ")
        link = in_link or (tag == "a" and bool(el.get("href")))
        self.add(el.text, link)
        for child in el:
            self.walk(child, link)
            self.add(child.tail, link)
        if block:
            self.flush()

    def add(self, text: str | None, link: bool) -> None:
        if text:
            self.parts.append(text)
            if link:
                self.link_chars += len(text.strip())


XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
SURROGATE = re.compile(rb"&#(?:0*5[5-7][0-9]{3}|[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2});")
INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")  # soft hyphen, zero-width characters


def _numeric(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name in XML_ENTITIES:
        return match.group(0)
    text = html.entities.html5.get(name.decode("ascii") + ";")
    if text is None:
        return match.group(0)  # unknown: left to the parser (which drops it)
    return b"".join(b"&#%d;" % ord(char) for char in text)


def _surrogate(match: re.Match[bytes]) -> bytes:
    number = match.group(0)[2:-1]
    value = int(number[1:], 16) if number[:1] in b"xX" else int(number)
    return b"&#xFFFD;" if 0xD800 <= value <= 0xDFFF else match.group(0)


def named_entities_as_numbers(content: bytes) -> bytes:
    """``&nbsp;``, ``&mdash;``, ``&eacute;``... as numeric references, which any XML parser reads.

    EPUB 2 books declare the XHTML 1.1 DOCTYPE and use HTML's named entities; an XML parser
    that does not load that DTD (we never fetch or expand DTDs) would drop them, and with them
    letters of words. Numeric references are the same characters, whatever the file's encoding.
    A reference to a lone surrogate (``&#xD800;``), which lxml would pass on as bytes no text
    can be decoded from, is the replacement character.
    """
    if b"&" not in content:
        return content
    return SURROGATE.sub(_surrogate, NAMED_ENTITY.sub(_numeric, content))


def safe_xml_parser() -> etree.XMLParser:
    """The one XML parser for what a book holds: lenient (broken markup is common), and it never
    resolves entities, fetches anything or builds huge trees."""
    return etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)


MAX_DEPTH = 256  # libxml2's nesting limit (XML_PARSE_HUGE lifts it, and every other limit with it: never)
# the errors on which libxml2 stops reading (a limit: nesting, entity expansion, a text node over 10 MB)
STOPPED = frozenset({"ERR_RESOURCE_LIMIT", "ERR_ENTITY_LOOP", "ERR_INTERNAL_ERROR", "ERR_NO_MEMORY"})


def unread(root: etree._Element | None, log: etree._ListErrorLog) -> list[str]:
    """Why some of a parsed document's text was not read, for the book's warnings: the parser
    stopped early (markup nested too deep, an entity bomb, a huge text node), or the document
    uses entities declared in its own DTD (never expanded)."""
    reasons = []
    for error in log:
        if error.type_name not in STOPPED:  # (other errors are of markup the parser mended, and read)
            continue
        message = error.message.lower()
        if "depth" in message:
            reasons.append(f"text nested deeper than {MAX_DEPTH} levels was not read, nor anything after it")
        elif "amplification" in message or "loop" in message:
            reasons.append("it declares entities that expand without bound (an internal DTD); its text from "
                           "the first of them on was not read")
        else:
            reasons.append(f"the parser stopped at line {error.line} ({error.message.strip()}); "
                           "the text after it was not read")
    if root is not None and next(root.iter(etree.Entity), None) is not None and _declared_entities(root):
        reasons.append("it declares its own entities (an internal DTD), which are not read: the words they "
                       "stand for are missing")
    return list(dict.fromkeys(reasons))


def _declared_entities(root: etree._Element) -> bool:
    dtd = root.getroottree().docinfo.internalDTD
    return dtd is not None and next(dtd.iterentities(), None) is not None


def parse_document(content: bytes, lost: list[str] | None = None) -> etree._Element:
    """Parse XHTML leniently (broken markup is common); never resolves external entities or fetches.

    Why some of its text could not be read (:func:`unread`) is added to ``lost``.
    """
    content = named_entities_as_numbers(content)
    parser = safe_xml_parser()
    root = etree.fromstring(content, parser=parser)
    if root is None:
        from lxml import html as lxml_html

        parser = lxml_html.HTMLParser()
        root = lxml_html.document_fromstring(content, parser=parser)
    if lost is not None:
        lost.extend(unread(root, parser.error_log))
    return root


def is_markup(content: bytes) -> bool:
    """Is this an (X)HTML document at all, however broken? (Not binary garbage or an empty file.)

    The head of the file settles it for nearly every real document; only the rest are parsed.
    """
    head = content[:4096].lower()
    if b"\x00" not in head and any(tag in head for tag in (b"<html", b"<body", b"<p")):
        return True
    try:
        return etree.fromstring(content, parser=safe_xml_parser()) is not None
    except etree.XMLSyntaxError:
        return False


def flatten(content: bytes, targets: set[str], lost: list[str] | None = None) -> list[Block | Anchor]:
    """Readable blocks of a document, with an Anchor wherever one of ``targets`` starts; why some
    of its text could not be read is added to ``lost``."""
    flattener = _Flattener(targets)
    root = parse_document(content, lost)
    body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
    flattener.walk(body)
    flattener.flush()
    return flattener.out
