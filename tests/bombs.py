"""Books built to inflate past the limits: small files that become gigabytes when read.

Each is made of 1 MB blocks with random words in them, repeated: deflate's window (32 KB)
cannot see the repetition, so the archive passes the expansion-ratio check (about 20x, under
100x) while the reader is asked to hold hundreds of megabytes of markup. Building one takes a
few seconds and a few megabytes of disk.
"""

from __future__ import annotations

import random
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.broken_epubs import ALICE
from tests.conftest import book

BLOCK = 2**20


def _block(unit: Callable[[random.Random], str], seed: int = 1) -> bytes:
    """About 1 MB of ``unit``s, each with some randomness of its own."""
    rng, parts, size = random.Random(seed), [], 0
    while size < BLOCK:
        part = unit(rng)
        parts.append(part)
        size += len(part)
    return "".join(parts).encode()


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 6)))


def _paragraph(rng: random.Random) -> str:
    return f"<p>{_word(rng)} all work and no play makes Jack a dull boy</p>"


def _write_member(archive: zipfile.ZipFile, name: str, head: bytes, block: bytes, blocks: int, tail: bytes) -> None:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(head)
        for _ in range(blocks):
            member.write(block)
        member.write(tail)


def _zip(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)


def docx_bomb(folder: Path, megabytes: int = 400) -> Path:
    """A Word document whose one part is ``megabytes`` of tiny paragraphs (millions of XML elements)."""
    path = folder / "bomb.docx"
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    with _zip(path) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="word/document.xml"/></Relationships>'))
        block = _block(lambda rng: f'<w:p><w:r><w:t>{_word(rng)} all work and no play</w:t></w:r></w:p>')
        _write_member(archive, "word/document.xml", f'<?xml version="1.0"?><w:document xmlns:w="{w}"><w:body>'.encode(),
                      block, megabytes, b"</w:body></w:document>")
    return path


def epub_bomb(folder: Path, chapters: int = 8, megabytes: int = 55) -> Path:
    """The Alice EPUB with ``chapters`` chapters padded to ``megabytes`` of paragraphs each (under every
    archive limit: 64 MiB a member, 512 MiB in all, under 100x its size)."""
    path = folder / "bomb.epub"
    block = _block(_paragraph)
    with zipfile.ZipFile(book(ALICE)) as source, _zip(path) as archive:
        padded = 0
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "mimetype":
                archive.writestr(info, data, zipfile.ZIP_STORED)
            elif info.filename.endswith("chapter_001.xhtml") or (
                    "chapter_" in info.filename and padded < chapters):
                padded += 1
                head, _, tail = data.partition(b"</body>")
                _write_member(archive, info.filename, head, block, megabytes, b"</body>" + tail)
            else:
                archive.writestr(info.filename, data)
    return path


def fb2_bomb(folder: Path, megabytes: int = 24) -> Path:
    """A zipped FB2 whose book is ``megabytes`` of short paragraphs (under the member limit)."""
    path = folder / "bomb.fb2.zip"
    with _zip(path) as archive:
        _write_member(archive, "bomb.fb2", b'<?xml version="1.0"?><FictionBook xmlns="http://www.gribuser.ru/xml/'
                      b'fictionbook/2.0"><description><title-info><book-title>Bomb</book-title></title-info>'
                      b"</description><body><section>", _block(_paragraph), megabytes,
                      b"</section></body></FictionBook>")
    return path


def _deflated(chunk: bytes, repeats: int) -> Iterator[bytes]:
    packer = zlib.compressobj(6)
    for _ in range(repeats):
        yield packer.compress(chunk)
    yield packer.flush()


def pdf_bomb(folder: Path, megabytes: int = 1200) -> Path:
    """A one-page PDF whose content stream inflates to ``megabytes`` of text-drawing operators."""
    chunk = b"BT /F1 12 Tf 72 720 Td (all work and no play) Tj ET\n" * (BLOCK // 52)
    stream = b"".join(_deflated(chunk, megabytes))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path = folder / "bomb.pdf"
    path.write_bytes(bytes(out))
    return path
