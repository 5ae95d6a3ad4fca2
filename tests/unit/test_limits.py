"""Hostile books: DRM, zip bombs, lying headers, huge members, books too long to convert (pure)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from services.parse.book import EbookError
from services.parse.limits import BookLimits, BookTooBig, estimated_hours
from services.parse.readers.archive import check_archive
from services.parse.readers.epub import read_epub
from tests.conftest import book

CONTAINER = (b'<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
             b'<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
             b"</rootfiles></container>")


def encryption(algorithm: str, uri: str) -> bytes:
    return (f'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            f'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
            f'<enc:EncryptionMethod Algorithm="{algorithm}"/><enc:CipherData>'
            f'<enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>').encode()


def with_members(source: Path, target: Path, extra: dict[str, bytes]) -> Path:
    """A copy of a real EPUB with extra members."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            copy.writestr(info, original.read(info))
        for name, data in extra.items():
            copy.writestr(name, data)
    return target


def test_encrypted_text_is_refused_as_drm(tmp_path: Path) -> None:
    novel = book("epub/se_jane-austen_unknown-novel.epub")
    locked = with_members(novel, tmp_path / "locked.epub", {
        "META-INF/encryption.xml": encryption("http://www.w3.org/2001/04/xmlenc#aes128-cbc",
                                              "epub/text/chapter-1.xhtml")})
    with pytest.raises(EbookError, match="protected by DRM"):
        check_archive(locked)
    adept = with_members(novel, tmp_path / "adept.epub", {"META-INF/rights.xml": b"<rights/>"})
    with pytest.raises(EbookError, match="protected by DRM"):
        check_archive(adept)


def test_font_obfuscation_alone_is_fine(tmp_path: Path) -> None:
    novel = book("epub/se_jane-austen_unknown-novel.epub")
    fonts = with_members(novel, tmp_path / "fonts.epub", {
        "META-INF/encryption.xml": encryption("http://www.idpf.org/2008/embedding", "epub/fonts/a.otf")})
    check_archive(fonts)
    assert read_epub(fonts).chapters


def test_a_zip_bomb_is_refused_by_its_expansion_ratio(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.epub"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", CONTAINER)
        archive.writestr("content.opf", b" " * (20 * 2**20))  # 20 MiB of spaces deflate to ~20 KB
    assert bomb.stat().st_size < 100_000
    with pytest.raises(BookTooBig, match="more than 100 times its size"):
        check_archive(bomb)


def test_a_member_too_big_for_a_chapter_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.epub"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("META-INF/container.xml", CONTAINER)
        archive.writestr("chapter.xhtml", b"x" * (3 * 2**20))
    with pytest.raises(BookTooBig, match=r"'chapter.xhtml' unpacks to more than 2 MiB"):
        check_archive(big, BookLimits(max_member_bytes=2 * 2**20))


def test_book_limits_name_their_setting() -> None:
    limits = BookLimits(max_chars=1000, max_chapters=3, max_segments=10, max_audio_hours=1.0)
    limits.check_book(1000, 3, 1.0)
    with pytest.raises(BookTooBig, match=r"1,001 characters.*AUDIOBOOK_MAX_BOOK_CHARS"):
        limits.check_book(1001, 1, 1.0)
    with pytest.raises(BookTooBig, match=r"4 chapters.*AUDIOBOOK_MAX_CHAPTERS"):
        limits.check_book(10, 4, 1.0)
    with pytest.raises(BookTooBig, match=r"11 segments.*AUDIOBOOK_MAX_SEGMENTS"):
        limits.check_plan(11)
    long = BookLimits(max_audio_hours=1.0)
    with pytest.raises(BookTooBig, match=r"about 2 hours of audio.*AUDIOBOOK_MAX_AUDIO_HOURS"):
        long.check_book(int(2 * 3600 / 0.053), 1, 1.0)
    long.check_book(int(2 * 3600 / 0.053), 1, 2.0)  # twice as fast: one hour
    assert abs(estimated_hours(67_925, 1.0) - 1.0) < 0.01


def test_real_books_pass_the_default_limits() -> None:
    limits = BookLimits()
    for name in ("epub/pg84_frankenstein_epub2-ncx.epub", "epub/alice_epub3-nav-only_epubjs.epub",
                 "edge/se_jane-austen_unknown-novel_advanced_svg-cover.epub"):
        parsed = read_epub(book(name), limits)
        limits.check_book(sum(len(p) for c in parsed.chapters for p in c.paragraphs), len(parsed.chapters), 1.0)


def test_a_huge_table_of_contents_is_refused_before_any_chapter_work() -> None:
    with pytest.raises(BookTooBig, match="table of contents has 32 entries; this server accepts up to 10"):
        read_epub(book("epub/pg84_frankenstein_epub2-ncx.epub"), BookLimits(max_toc_entries=10))
