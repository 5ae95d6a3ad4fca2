"""Pure M4B helpers: chapter offsets, ffmetadata escaping, ffmpeg arguments."""

import io
from pathlib import Path

import pytest

from events.audio import AAC_FRAME
from services.assemble.m4b import (
    ChapterMark,
    adts_frames,
    chapter_marks,
    ffmetadata,
    iso639_2,
    remux_command,
)
from services.tts.render import to_aac


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


def test_remux_command_copies_the_audio() -> None:
    cmd = remux_command("ffmpeg", Path("a.m4a"), Path("m.txt"), Path("c.jpg"), Path("o.m4b"), "en")
    joined = " ".join(cmd)
    assert "-map_chapters 1" in joined and "-map 2:v" in joined and "attached_pic" in joined
    assert "-c copy" in joined, "the final step copies the encoded audio: no re-encode"
    assert "language=eng" in joined and cmd[-1] == "o.m4b"
    assert "-map 2:v" not in " ".join(remux_command("ffmpeg", Path("a"), Path("m"), None, Path("o"), ""))


def _adts_frame(payload: bytes) -> bytes:
    length = 7 + len(payload)
    header = [0xFF, 0xF1, 0x50, 0x40 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC]
    return bytes(header) + payload


def test_adts_frames_counts_frames_of_any_length() -> None:
    stream = b"".join(_adts_frame(bytes(n)) for n in (0, 5, 300, 2000))
    assert adts_frames(io.BytesIO(stream)) == 4
    assert adts_frames(io.BytesIO(b"")) == 0


def test_adts_frames_rejects_what_is_not_adts() -> None:
    with pytest.raises(ValueError, match="not an ADTS frame header"):
        adts_frames(io.BytesIO(_adts_frame(b"x") + b"RIFF0000"))
    with pytest.raises(ValueError, match="ends inside a frame header"):
        adts_frames(io.BytesIO(_adts_frame(b"x") + b"\xff\xf1"))


def test_adts_frames_of_a_real_encoder_cover_the_samples() -> None:
    for samples in (1, 1024, 5000, 22050 * 3 + 7):
        aac, length = to_aac(bytes(2 * samples), 22050)
        assert adts_frames(io.BytesIO(aac)) * AAC_FRAME == length, "the stated length is the frames encoded"
        # one frame of priming replaces a frame of the trailing pause; the rest pads to a whole frame
        assert (length % AAC_FRAME == 0 and samples <= length < samples + AAC_FRAME) or samples <= AAC_FRAME
