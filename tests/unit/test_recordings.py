"""A reference recording is judged by the samples it holds, not by what its WAV header claims."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from services.parse.speaker import SpeakerError, check_recording

RATE = 16_000


def wav(path: Path, samples: list[int] | bytes, rate: int = RATE, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(samples if isinstance(samples, bytes) else struct.pack(f"<{len(samples)}h", *samples))
    return path


def tone(seconds: float) -> list[int]:
    return [round(8000 * math.sin(2 * math.pi * 220 * n / RATE)) for n in range(int(seconds * RATE))]


def lying_header(path: Path, seconds: float) -> Path:
    """44 bytes: a RIFF/WAVE header (16-bit mono) whose data chunk claims ``seconds`` of samples."""
    data = int(seconds * RATE) * 2
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE,
                     RATE * 2, 2, 16) + b"data" + struct.pack("<I", data))
    return path


def test_a_valid_three_second_recording_is_accepted(tmp_path: Path) -> None:
    assert check_recording(wav(tmp_path / "ok.wav", tone(3.0))) == 3.0


def test_a_44_byte_header_claiming_a_minute_is_refused(tmp_path: Path) -> None:
    path = lying_header(tmp_path / "liar.wav", 60.0)
    assert path.stat().st_size == 44
    with pytest.raises(SpeakerError, match=r"cut short: its header says 60\.0 s, its samples last 0\.0 s"):
        check_recording(path)


def test_a_truncated_recording_is_refused(tmp_path: Path) -> None:
    path = wav(tmp_path / "cut.wav", tone(5.0))
    path.write_bytes(path.read_bytes()[:44 + 2 * int(2.5 * RATE)])
    with pytest.raises(SpeakerError, match=r"cut short: its header says 5\.0 s, its samples last 2\.5 s"):
        check_recording(path)


def test_a_silent_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpeakerError, match=r"silence: its 3\.0 s hold no sound"):
        check_recording(wav(tmp_path / "silent.wav", [0] * (3 * RATE)))
    with pytest.raises(SpeakerError, match="silence"):  # 8-bit samples are unsigned: silence is 128
        check_recording(wav(tmp_path / "silent8.wav", b"\x80" * (3 * RATE), width=1))
    assert check_recording(wav(tmp_path / "click8.wav", b"\x80" * (3 * RATE - 1) + b"\xff", width=1)) == 3.0


def test_a_header_claiming_too_long_a_recording_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(SpeakerError, match=r"2 s to 2 minutes; it is 600\.0 s"):
        check_recording(lying_header(tmp_path / "long.wav", 600.0))


def test_bytes_after_the_data_chunk_are_not_samples(tmp_path: Path) -> None:
    """Only the data chunk holds samples: what follows it (another chunk, junk) is not measured."""
    path = wav(tmp_path / "ok.wav", tone(3.0))
    path.write_bytes(path.read_bytes() + bytes(10 * RATE * 2))  # trailing bytes outside the data chunk
    assert check_recording(path) == 3.0
