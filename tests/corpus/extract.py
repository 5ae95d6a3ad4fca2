"""A plain extraction of each book's text, independent of the reader under test (test support).

It takes every leaf block of text in reading order with the formats' own libraries and nothing
of ``services.parse``: the EPUB spine's documents, an HTML or Markdown file's elements, a text
file's blank-line paragraphs, a PDF's lines, a Word file's paragraphs, an FB2's first body, a
Kindle book unpacked. The corpus test checks that what the reader reads appears in it, in order.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lxml import etree
from lxml import html as lxml_html

BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dd", "dt", "pre", "blockquote", "td",
                    "th", "section", "article", "aside", "header", "footer", "figcaption", "caption", "center",
                    "address", "body", "table", "tr", "ul", "ol", "dl", "hgroup", "main"})
OPF = "{http://www.idpf.org/2007/opf}"


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower() if isinstance(tag, str) else ""


NOTES = re.compile(r"(foot|end|rear)?notes?\b|noteref|pagenum|pageno|pagebreak|toc\b", re.IGNORECASE)


def _marked_note(element: Any) -> bool:
    """A footnote, an endnote, a notes section, a note marker or a page number, by its markup
    (class, id, epub:type or role): what books mark as not part of the text read."""
    marks = " ".join(str(element.get(name) or "") for name in ("class", "id", "role", "epub:type",
                                                                "{http://www.idpf.org/2007/ops}type"))
    return bool(NOTES.search(marks))


def html_units(content: bytes) -> list[str]:
    """The text of every block element holding no other block element, in document order."""
    try:
        root = lxml_html.fromstring(content)
    except (etree.ParserError, ValueError):
        return []
    for element in list(root.iter()):  # notes, page numbers, ruby readings: marked as not the text
        if element.getparent() is not None and (_local(element.tag) in ("rt", "rp", "script", "style", "figure")
                                                or _marked_note(element)):
            element.drop_tree()
    out: list[str] = []
    for element in root.iter():
        tag = _local(element.tag)
        if tag not in BLOCKS or tag == "head":
            continue
        if any(_local(child.tag) in BLOCKS for child in element.iterdescendants()):
            own = " ".join(t for t in [element.text or ""] + [c.tail or "" for c in element] if t.strip())
            if own.strip():
                out.append(" ".join(own.split()))
            continue
        text = " ".join(element.text_content().split())
        if text:
            out.append(text)
    return out


def epub_units(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        container = etree.fromstring(archive.read("META-INF/container.xml"))
        opf = next(el.get("full-path") for el in container.iter() if _local(el.tag) == "rootfile")
        package = etree.fromstring(archive.read(opf))
        base = posixpath.dirname(opf)
        items = {el.get("id"): el.get("href") for el in package.iter(f"{OPF}item")}
        names = {name.lower(): name for name in archive.namelist()}
        out: list[str] = []
        for ref in package.iter(f"{OPF}itemref"):
            if (ref.get("linear") or "yes").lower() == "no" or ref.get("idref") not in items:
                continue
            name = posixpath.normpath(posixpath.join(base, unquote(items[ref.get("idref")] or "")))
            if name.lower() in names:
                out.extend(html_units(archive.read(names[name.lower()])))
        return out


def text_units(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # the Western books here are Latin-1 or Windows-1252
    paragraphs = text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n")
    return [" ".join(p.split()) for p in paragraphs if p.strip()]


def pdf_units(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [" ".join(line.split()) for page in PdfReader(str(path)).pages
            for line in (page.extract_text() or "").split("\n") if line.strip()]


def docx_units(path: Path) -> list[str]:
    import docx

    return [" ".join(p.text.split()) for p in docx.Document(str(path)).paragraphs if p.text.strip()]


def fb2_units(data: bytes) -> list[str]:
    root = etree.fromstring(data, parser=etree.XMLParser(recover=True, resolve_entities=False, huge_tree=True))
    body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
    return [" ".join("".join(el.itertext()).split()) for el in body.iter()
            if _local(el.tag) in ("p", "v", "subtitle", "text-author") and "".join(el.itertext()).strip()]


def kindle_units(path: Path) -> list[str]:
    import mobi

    folder, unpacked = mobi.extract(str(path))
    try:
        return epub_units(Path(unpacked)) if unpacked.endswith(".epub") else html_units(Path(unpacked).read_bytes())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def units(path: Path, kind: str) -> list[str]:
    """The book's text as blocks in reading order, by its kind (the manifest's ``format``)."""
    if kind == "epub":
        return epub_units(path)
    if kind in ("html", "htm"):
        return html_units(path.read_bytes())
    if kind == "md":
        from markdown_it import MarkdownIt

        text = re.sub(r"\{:[^}\n]*\}", "", path.read_text(encoding="utf-8"))  # kramdown's styling marks
        return html_units(MarkdownIt("commonmark").render(text).encode() or b"<p></p>")
    if kind == "txt":
        return text_units(path.read_bytes())
    if kind == "pdf":
        return pdf_units(path)
    if kind == "docx":
        return docx_units(path)
    if kind in ("fb2",):
        return fb2_units(path.read_bytes())
    if kind in ("mobi", "azw3"):
        return kindle_units(path)
    raise ValueError(f"no extraction for {kind!r}")
