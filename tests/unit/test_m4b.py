"""Pure M4B helpers: chapter offsets, ffmetadata escaping, ffmpeg arguments."""

from pathlib import Path

from services.assemble.m4b import ChapterMark, chapter_marks, encode_command, ffmetadata, iso639_2, remux_command


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


def test_encode_then_remux_commands() -> None:
    encode = " ".join(encode_command("ffmpeg", 22050, Path("a.m4a")))
    assert "-f s16le -ar 22050 -ac 1 -i pipe:0" in encode and "-c:a aac" in encode
    cmd = remux_command("ffmpeg", Path("a.m4a"), Path("m.txt"), Path("c.jpg"), Path("o.m4b"), "en")
    joined = " ".join(cmd)
    assert "-map_chapters 1" in joined and "-map 2:v" in joined and "attached_pic" in joined
    assert "-c copy" in joined, "the final step copies the encoded audio: no re-encode"
    assert "language=eng" in joined and cmd[-1] == "o.m4b"
    assert "-map 2:v" not in " ".join(remux_command("ffmpeg", Path("a"), Path("m"), None, Path("o"), ""))
