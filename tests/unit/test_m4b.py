"""Pure M4B helpers: chapter offsets, ffmetadata escaping, ffmpeg arguments."""

from pathlib import Path

from services.assemble.m4b import ChapterMark, chapter_marks, ffmetadata, ffmpeg_command, iso639_2


def test_chapter_marks_are_contiguous() -> None:
    marks = chapter_marks([("One", 22050), ("Two", 11025), ("Three", 44100)], 22050)
    assert marks == [ChapterMark("One", 0, 1000), ChapterMark("Two", 1000, 1500), ChapterMark("Three", 1500, 3500)]


def test_ffmetadata_escapes_special_characters() -> None:
    text = ffmetadata("A=B; C#", "Ann\\Bob", "en", [ChapterMark("Why? = because;", 0, 10)])
    assert text.startswith(";FFMETADATA1\n")
    assert "title=A\\=B\\; C\\#" in text
    assert "artist=Ann\\\\Bob" in text
    assert "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=10\ntitle=Why? \\= because\\;" in text


def test_language_codes() -> None:
    assert iso639_2("en-US") == "eng" and iso639_2("fr") == "fra" and iso639_2("de") == "deu"
    assert iso639_2("zz") is None


def test_ffmpeg_command_maps_cover_and_chapters() -> None:
    cmd = ffmpeg_command("ffmpeg", 22050, Path("m.txt"), Path("c.jpg"), Path("o.m4b"), "en")
    joined = " ".join(cmd)
    assert "-f s16le -ar 22050 -ac 1 -i pipe:0" in joined
    assert "-map_chapters 1" in joined and "-map 2:v" in joined and "attached_pic" in joined
    assert "language=eng" in joined and cmd[-1] == "o.m4b"
    assert "-map 2:v" not in " ".join(ffmpeg_command("ffmpeg", 22050, Path("m"), None, Path("o"), ""))
