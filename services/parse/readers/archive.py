"""Is this zip safe to open as an EPUB? (pure; reads the file, never the network)

Before any EPUB library reads a member, every member is inflated once, in bounded chunks,
counting the bytes that really come out: a header that lies about sizes, a zip bomb or a
member too big for one chapter is refused without ever holding it in memory. Content
encrypted by DRM is refused with a reason a person understands (font obfuscation alone is
fine: players de-obfuscate fonts, and we never read fonts).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from services.parse.book import EbookError
from services.parse.limits import BookLimits, BookTooBig
from services.parse.readers.xhtml import safe_xml_parser

CHUNK = 64 * 1024
# algorithms that only obfuscate embedded fonts (IDPF and Adobe): not DRM
FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
ENC = "{http://www.w3.org/2001/04/xmlenc#}"
DRM_MARKERS = ("META-INF/rights.xml",)  # Adobe ADEPT licences


def _inflated_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, over_budget: str,
                   limits: BookLimits, kind: str) -> int:
    """Bytes a member really inflates to, reading 64 KiB at a time; refuses as soon as it is too big."""
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            size += len(chunk)
            if size > limits.max_member_bytes:
                raise BookTooBig(f"refused: the {kind} member {info.filename!r} unpacks to more than "
                                 f"{limits.max_member_bytes // 2**20} MiB")
            if size > budget:
                raise BookTooBig(over_budget)
    return size


def _encrypted_content(archive: zipfile.ZipFile) -> list[str]:
    """Members encrypted with anything but font obfuscation (META-INF/encryption.xml)."""
    try:
        data = archive.read("META-INF/encryption.xml")
    except KeyError:
        return []
    root = etree.fromstring(data, parser=safe_xml_parser())
    if root is None:
        return []
    encrypted = []
    for item in root.iter(f"{ENC}EncryptedData"):
        method = item.find(f"{ENC}EncryptionMethod")
        algorithm = method.get("Algorithm", "") if method is not None else ""
        if algorithm not in FONT_OBFUSCATION:
            reference = item.find(f".//{ENC}CipherReference")
            encrypted.append(reference.get("URI", "?") if reference is not None else "?")
    return encrypted


def check_archive(path: Path, limits: BookLimits | None = None, kind: str = "EPUB") -> None:
    """Refuse what is not a safe zip: not a zip, too many entries, zip bombs, lying headers,
    escaping paths, DRM. Raises EbookError (or BookTooBig) with a reason a person understands.

    ``kind`` names the format in the reasons; only an EPUB must have ``META-INF/container.xml``
    (a Word document is a zip too, and is checked the same way before it is read).
    """
    limits = limits or BookLimits()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise EbookError(f"not an {kind}: the file is not a zip archive") from None
    with archive:
        infos = archive.infolist()
        _check_entries(infos, limits, kind)
        if any(i.filename in DRM_MARKERS for i in infos) or _encrypted_content(archive):
            raise EbookError("refused: the book is protected by DRM (its text is encrypted); "
                             "convert a DRM-free copy")
        by_ratio = int(limits.max_expansion * max(path.stat().st_size, 1))
        budget = min(limits.max_unpacked_bytes, by_ratio)
        over_budget = (f"refused: the {kind} unpacks to more than {limits.max_expansion:g} times its size "
                       "(a zip bomb?)" if by_ratio < limits.max_unpacked_bytes else
                       f"refused: the {kind} unpacks to more than {limits.max_unpacked_bytes // 2**20} MiB "
                       "(AUDIOBOOK_MAX_UNPACKED_MB)")
        try:
            for info in infos:
                budget -= _inflated_size(archive, info, budget, over_budget, limits, kind)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, OSError) as exc:
            raise EbookError(f"not a readable {kind}: the zip archive is damaged ({exc})") from None


def _check_entries(infos: list[zipfile.ZipInfo], limits: BookLimits, kind: str) -> None:
    if len(infos) > limits.max_entries:
        raise EbookError(f"not a usable {kind}: {len(infos)} entries (limit {limits.max_entries})")
    if sum(i.file_size for i in infos) > limits.max_unpacked_bytes:
        raise BookTooBig(f"refused: the {kind} unpacks to more than {limits.max_unpacked_bytes // 2**20} MiB "
                         "(AUDIOBOOK_MAX_UNPACKED_MB)")
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
            raise EbookError(f"refused: the {kind} holds an entry with an unsafe path ({name!r})")
    if kind == "EPUB" and "META-INF/container.xml" not in {i.filename for i in infos}:
        raise EbookError("not an EPUB: the zip has no META-INF/container.xml")
