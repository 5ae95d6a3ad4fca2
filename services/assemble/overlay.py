"""The read-along EPUB: the book's text (parse's ``texts/<job>.epub``) with Media Overlays (pure; bytes in, file out).

Each sentence parse marked has a span whose id names its place in the book
(:func:`events.names.sentence_id`); each read-along cue carries that id and its time. Here the
text gets, for each XHTML document holding such spans, a SMIL file of ``<par>`` elements (the
span, and the clip of the chapter's audio that says it), the chapters' audio (AAC in MP4,
stream-copied from the book), and in the package: the items, each document's
``media-overlay``, every SMIL file's ``media:duration``, the total and ``media:active-class``.
Nothing else in the text changes. A cue whose span parse could not place is counted, not played.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from lxml import etree

from events.names import SENTENCE_ID
from services.assemble.readalong import Cue

OPF = "http://www.idpf.org/2007/opf"
SMIL = "http://www.w3.org/ns/SMIL"
OPS = "http://www.idpf.org/2007/ops"
CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
ACTIVE_CLASS = "-epub-media-overlay-active"  # the class a reading system gives the sentence being said


class OverlayError(ValueError):
    """The read-along text is not an EPUB this can add overlays to."""


@dataclass(frozen=True)
class ChapterAudio:
    """One chapter's audio file (AAC in MP4) and where it lies in the book, in samples."""

    chapter: int
    path: Path
    start: int
    samples: int


@dataclass(frozen=True)
class Overlaid:
    """What went into the read-along EPUB."""

    pars: int  # sentences (or pieces) with a clip
    unmarked: int  # cues whose span is not in the text
    documents: int  # XHTML documents with an overlay


def clock(millis: int) -> str:
    """A SMIL full clock value: ``H:MM:SS.mmm``."""
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _package(archive: zipfile.ZipFile) -> str:
    container = etree.fromstring(archive.read("META-INF/container.xml"), parser=_parser())
    rootfile = container.find(f".//{CONTAINER}rootfile")
    path = rootfile.get("full-path") if rootfile is not None else None
    if not path or path not in archive.namelist():
        raise OverlayError("the read-along text names no package document")
    return path


def _placed_ids(archive: zipfile.ZipFile, documents: list[str]) -> dict[str, str]:
    """Each sentence span's id -> the document (zip name) holding it."""
    where: dict[str, str] = {}
    for name in documents:
        for match in SENTENCE_ID.finditer(archive.read(name)):
            where["ra-" + "-".join(group.decode() for group in match.groups())] = name
    return where


def _unique(wanted: str, taken: set[str]) -> str:
    name = wanted
    while name in taken:
        name += "x"
    taken.add(name)
    return name


def _smil(pars: list[tuple[str, str, int, int]], smil_name: str) -> bytes:
    """A SMIL document of ``pars``: (text zip name#id, audio zip name, clip begin ms, clip end ms)."""
    base = posixpath.dirname(smil_name)
    root = etree.Element(f"{{{SMIL}}}smil", nsmap={None: SMIL, "epub": OPS}, version="3.0")
    body = etree.SubElement(root, f"{{{SMIL}}}body")
    for number, (text, audio, begin, end) in enumerate(pars, start=1):
        document, _, fragment = text.partition("#")
        par = etree.SubElement(body, f"{{{SMIL}}}par", id=f"par{number}")
        etree.SubElement(par, f"{{{SMIL}}}text", src=f"{quote(posixpath.relpath(document, base))}#{fragment}")
        etree.SubElement(par, f"{{{SMIL}}}audio", src=quote(posixpath.relpath(audio, base)),
                         clipBegin=clock(begin), clipEnd=clock(end))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def overlay_epub(text: bytes, cues: list[Cue], audio: list[ChapterAudio], rate: int, output: Path) -> Overlaid:
    """Write the read-along EPUB: ``text`` with overlays timing its spans by ``cues`` in ``audio``."""
    with zipfile.ZipFile(io.BytesIO(text)) as archive:
        opf = _package(archive)
        package = etree.fromstring(archive.read(opf), parser=_parser())
        base = posixpath.dirname(opf)
        manifest, metadata = package.find(f"{{{OPF}}}manifest"), package.find(f"{{{OPF}}}metadata")
        if manifest is None or metadata is None:
            raise OverlayError("the read-along text's package has no manifest or metadata")
        items = {posixpath.normpath(posixpath.join(base, unquote(item.get("href") or ""))): item
                 for item in manifest.iterfind(f"{{{OPF}}}item")}
        taken = {item.get("id") or "" for item in items.values()}
        xhtml = [name for name, item in items.items() if item.get("media-type") == "application/xhtml+xml"
                 and name in archive.namelist()]
        where = _placed_ids(archive, xhtml)
        files = {a.chapter: (posixpath.join(base, "audio", f"chapter-{a.chapter + 1:04d}.m4a"), a) for a in audio}
        pars: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
        unmarked = 0
        for cue in cues:
            document = where.get(cue.id)
            chapter = int(cue.id.split("-")[1]) if document else -1
            if document is None or chapter not in files:
                unmarked += 1
                continue
            name, chapter_audio = files[chapter]
            length = round(chapter_audio.samples * 1000 / rate)  # (milliseconds rounded as the WebVTT's)
            begin = min(max(0, round((cue.start - chapter_audio.start) * 1000 / rate)), length)
            end = min(max(0, round((cue.end - chapter_audio.start) * 1000 / rate)), length)
            if end > begin:
                pars[document].append((f"{document}#{cue.id}", name, begin, end))
        added: dict[str, bytes] = {}
        total = 0
        for number, (document, its_pars) in enumerate(sorted(pars.items()), start=1):
            smil_name = posixpath.join(base, "overlays", f"{number:04d}.smil")
            smil_id = _unique(f"ra-smil-{number}", taken)
            added[smil_name] = _smil(its_pars, smil_name)
            etree.SubElement(manifest, f"{{{OPF}}}item", id=smil_id, href=quote(posixpath.relpath(smil_name, base)),
                             attrib={"media-type": "application/smil+xml"})
            items[document].set("media-overlay", smil_id)
            duration = sum(end - begin for _, _, begin, end in its_pars)
            total += duration
            etree.SubElement(metadata, f"{{{OPF}}}meta", property="media:duration",
                             refines=f"#{smil_id}").text = clock(duration)
        used = {name for its_pars in pars.values() for _, name, _, _ in its_pars}
        for chapter, (name, _) in sorted(files.items()):
            if name in used:
                etree.SubElement(manifest, f"{{{OPF}}}item", id=_unique(f"ra-audio-{chapter + 1}", taken),
                                 href=quote(posixpath.relpath(name, base)), attrib={"media-type": "audio/mp4"})
        etree.SubElement(metadata, f"{{{OPF}}}meta", property="media:duration").text = clock(total)
        etree.SubElement(metadata, f"{{{OPF}}}meta", property="media:active-class").text = ACTIVE_CLASS
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", zipfile.ZIP_STORED)
            for info in archive.infolist():
                if info.filename == "mimetype" or info.is_dir():
                    continue
                if info.filename == opf:
                    out.writestr(info, etree.tostring(package, xml_declaration=True, encoding="utf-8"),
                                 zipfile.ZIP_DEFLATED)
                    continue
                with archive.open(info) as src, out.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst)
            for name, data in added.items():
                out.writestr(name, data)
            for _, (name, chapter_audio) in sorted(files.items()):
                if name in used:  # audio is compressed already
                    out.write(chapter_audio.path, name, zipfile.ZIP_STORED)
    return Overlaid(sum(len(p) for p in pars.values()), unmarked, len(pars))
