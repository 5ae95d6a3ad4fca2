"""A book's text for its read-along EPUB: parse's half of the Media Overlays (pure; file in, bytes out).

Every sentence read aloud gets a span whose id names its place in the job's text map
(:func:`events.names.sentence_id`); the assembler later adds the audio, one SMIL file per
document and the package's media metadata. An EPUB 3 keeps its own XHTML, styles and package:
only the spans are added (:mod:`services.parse.readers.marking`). Any other book (an EPUB 2
too, whose XHTML 1.1 is not an EPUB 3 content document) becomes an EPUB 3 built from its
parsed chapters, with the same spans.
"""

from __future__ import annotations

import html
import io
import logging
import posixpath
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import orjson
from ebooklib import epub
from lxml import etree

from events.names import sentence_id
from services.parse.book import Book
from services.parse.readers.marking import Sentence, mark_documents
from services.parse.readers.repair import OPF_NS, package_path
from services.parse.readers.xhtml import safe_xml_parser
from services.parse.segmenter import opens_with_heading

log = logging.getLogger(__name__)
XHTML_TYPES = frozenset({"application/xhtml+xml"})
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# the job's text map (services.parse.plan.text_map) by chapter, segment and paragraph piece: (place, sentences)
Pieces = list[list[list[tuple[int, list[str]]]]]


@dataclass(frozen=True)
class ReadAlongText:
    """The read-along text (an EPUB 3) and how its sentences were placed in it."""

    epub: bytes
    sentences: int
    marked: int
    partial: int  # marked on the part within their first run of text only
    original: bool  # the reader's own EPUB 3 (else one built from the parsed chapters)


def pieces_of(text_map: bytes) -> Pieces:
    """The pieces of a text map that parse just wrote (``plan.text_map``)."""
    return [[[(int(place), list(texts)) for place, texts in segment] for segment in chapter["segments"]]
            for chapter in orjson.loads(text_map)["chapters"]]


def sentences_of(pieces: Pieces) -> list[Sentence]:
    """Every sentence of the plan, in reading order, with the id its span gets."""
    return [Sentence(sentence_id(chapter, index, piece, number), text)
            for chapter, segments in enumerate(pieces) for index, segment in enumerate(segments)
            for piece, (_, texts) in enumerate(segment) for number, text in enumerate(texts)]


def read_along_text(path: Path, kind: str, book: Book, pieces: Pieces, job_id: str) -> ReadAlongText:
    """The book's read-along text: the reader's EPUB 3 marked, or an EPUB 3 built from ``book``."""
    sentences = sentences_of(pieces)
    if kind == "epub":
        try:
            marked = _marked_epub3(path, sentences)
        except Exception:  # a book the reader read but this cannot mark: the chapters serve instead
            log.exception("%s: its EPUB could not be marked for the read-along; one is built from its chapters",
                          path.name)
            marked = None
        if marked is not None:
            return marked
    return ReadAlongText(built_epub(book, pieces, job_id), len(sentences), len(sentences), 0, False)


@dataclass(frozen=True)
class _Package:
    opf: str
    documents: list[str]  # the reading order's XHTML documents, as the zip names them


def _epub3_package(archive: zipfile.ZipFile) -> _Package | None:
    """The package of an EPUB 3 whose reading order is all in the zip; None for anything else."""
    opf = package_path(archive)
    if opf is None:
        return None
    root = etree.fromstring(archive.read(opf), parser=safe_xml_parser())
    if root is None or not (root.get("version") or "").startswith("3"):
        return None
    base = posixpath.dirname(opf)
    items = {item.get("id"): item for item in root.iterfind(f"{OPF_NS}manifest/{OPF_NS}item")}
    names = set(archive.namelist())
    documents = []
    for itemref in root.iterfind(f"{OPF_NS}spine/{OPF_NS}itemref"):
        item = items.get(itemref.get("idref"))
        if item is None or item.get("media-type") not in XHTML_TYPES or itemref.get("linear") == "no":
            continue
        name = posixpath.normpath(posixpath.join(base, unquote(item.get("href") or "")))
        if name not in names:
            return None
        documents.append(name)
    return _Package(opf, documents)


def _marked_epub3(path: Path, sentences: list[Sentence]) -> ReadAlongText | None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None
    with archive:
        try:
            package = _epub3_package(archive)
        except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
            return None
        if package is None:
            return None
        marked = mark_documents([(name, archive.read(name)) for name in package.documents], sentences)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            copy.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", zipfile.ZIP_STORED)
            for info in archive.infolist():
                if info.filename == "mimetype" or info.is_dir():
                    continue
                if info.filename in marked.documents:
                    copy.writestr(info, marked.documents[info.filename], zipfile.ZIP_DEFLATED)
                    continue
                with archive.open(info) as src, copy.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst)
    return ReadAlongText(out.getvalue(), len(sentences), len(marked.placed), marked.partial, True)


def _escaped(text: str) -> str:
    """Text as XHTML: escaped, and without the control characters XML cannot hold."""
    return html.escape(NOT_XML.sub("", text), quote=False)


def _paragraph(tag: str, sentences: list[tuple[str, str]]) -> str:
    inner = " ".join(f'<span id="{span}">{_escaped(text.strip())}</span>' for span, text in sentences)
    return f"<{tag}>{inner}</{tag}>"


def _chapter_body(title: str, paragraphs: tuple[str, ...], spans: dict[int, list[tuple[str, str]]]) -> str:
    """A chapter as XHTML: each paragraph read aloud as its sentences' spans, the rest as they are."""
    heading = opens_with_heading(title, paragraphs)
    parts = [] if heading else [f"<h1>{_escaped(title)}</h1>"]
    for place, text in enumerate(paragraphs):
        tag = "h1" if heading and place == 0 else "p"
        if place in spans:
            parts.append(_paragraph(tag, spans[place]))
        else:
            parts.append(f"<{tag}>{_escaped(text)}</{tag}>")
    return "\n".join(parts)


def built_epub(book: Book, pieces: Pieces, job_id: str) -> bytes:
    """An EPUB 3 of the parsed chapters (ebooklib), each sentence read aloud in a span of its own."""
    out = epub.EpubBook()
    out.set_identifier(f"urn:audiobook:{job_id}")
    out.set_title(book.title or "Untitled")
    out.set_language(book.language or "en")
    if book.author:
        out.add_author(book.author)
    if book.cover is not None:
        out.set_cover(f"cover{book.cover.suffix}", book.cover.data)
    documents = []
    for number, (chapter, segments) in enumerate(zip(book.chapters, pieces, strict=True)):
        spans: dict[int, list[tuple[str, str]]] = {}
        for index, segment in enumerate(segments):
            for piece, (place, texts) in enumerate(segment):
                spans.setdefault(place, []).extend(
                    (sentence_id(number, index, piece, n), text) for n, text in enumerate(texts))
        document = epub.EpubHtml(title=chapter.title, file_name=f"text/chapter-{number + 1:04d}.xhtml",
                                 lang=book.language or "en")
        document.content = _chapter_body(chapter.title, chapter.paragraphs, spans)
        out.add_item(document)
        documents.append(document)
    out.toc = documents
    out.add_item(epub.EpubNcx())
    out.add_item(epub.EpubNav())
    out.spine = ["nav", *documents]
    buffer = io.BytesIO()
    epub.write_epub(buffer, out)
    return buffer.getvalue()
