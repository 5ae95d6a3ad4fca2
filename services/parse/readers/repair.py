"""Mend an EPUB's package before it is read, the way reading systems forgive it (pure; file in, file out).

Real EPUBs name files that are not in the zip, give two manifest items the same id, or write
an href percent-encoded or in another case than the file's name. An EPUB library stops at the
first such fault; a reader's app shows the rest of the book. Here the manifest is rewritten:
an href that names a file by another spelling is pointed at that file, a later duplicate id is
dropped, and an item whose file is missing is removed. What is lost is said, for the book's
warnings; a book with nothing to mend is read as it is.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from services.parse.readers.xhtml import safe_xml_parser

OPF_NS = "{http://www.idpf.org/2007/opf}"
CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
TEXT_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/x-dtbook+xml"})


def package_path(archive: zipfile.ZipFile) -> str | None:
    """Where the EPUB's package document (OPF) is, as ``META-INF/container.xml`` says, if it is there."""
    try:
        root = etree.fromstring(archive.read("META-INF/container.xml"), parser=safe_xml_parser())
    except KeyError:
        return None
    if root is None:
        return None
    rootfile = root.find(f".//{CONTAINER_NS}rootfile")
    path = rootfile.get("full-path") if rootfile is not None else None
    return path if path and path in archive.namelist() else None


def _mend_manifest(manifest: etree._Element, base: str, names: set[str]) -> tuple[bool, list[str]]:
    """Fix or drop each faulty item in place: whether anything changed, and warnings for what cannot be read."""
    by_lower = {name.lower(): name for name in names}
    seen: set[str] = set()
    warnings: list[str] = []
    changed = False
    for item in list(manifest):
        if not isinstance(item.tag, str) or etree.QName(item).localname != "item":
            continue
        ident, href = item.get("id") or "", item.get("href") or ""
        text = item.get("media-type", "") in TEXT_TYPES
        if ident in seen:
            manifest.remove(item)
            changed = True
            if text:
                warnings.append(f"the manifest names id {ident!r} twice; its second file ({href}) was not read")
            continue
        seen.add(ident)
        if href.startswith(("http:", "https:", "data:")):
            continue
        target = posixpath.normpath(posixpath.join(base, unquote(href.partition("#")[0])))
        found = target if target in names else by_lower.get(target.lower())
        if found is None:
            manifest.remove(item)
            changed = True
            if text:
                warnings.append(f"{href} is listed in the book but missing from the file; its text is not read")
            continue
        relative = posixpath.relpath(found, base) if base else found  # as the zip spells it: the EPUB library
        if relative != href.partition("#")[0]:                        # looks names up unquoted
            item.set("href", relative)
            changed = True
    return changed, warnings


def mend_epub(path: Path, folder: Path) -> tuple[Path, list[str]]:
    """The EPUB to read (``path``, or a mended copy in ``folder``) and what was skipped."""
    with zipfile.ZipFile(path) as archive:
        opf = package_path(archive)
        if opf is None:
            return path, []  # the EPUB library names what is wrong
        root = etree.fromstring(archive.read(opf), parser=safe_xml_parser())
        manifest = root.find(f"{OPF_NS}manifest") if root is not None else None
        if manifest is None:
            return path, []
        names = {info.filename for info in archive.infolist() if not info.is_dir()}
        changed, warnings = _mend_manifest(manifest, posixpath.dirname(opf), names)
        if not changed:
            return path, warnings
        mended = Path(tempfile.mkstemp(suffix=".epub", dir=folder)[1])
        with zipfile.ZipFile(mended, "w") as out:
            for info in archive.infolist():
                if info.filename == opf:
                    out.writestr(info, etree.tostring(root, xml_declaration=True, encoding="utf-8"))
                else:
                    with archive.open(info) as src, out.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst)
    return mended, warnings
