"""A child process builds the same Settings as its parent: as_env and from_env agree on every field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from services.settings import Settings


def test_settings_survive_the_trip_to_a_child_process(tmp_path: Path) -> None:
    parent = Settings(
        nats_url="nats://10.0.0.1:4222", data_dir=tmp_path / "data", input_dir=(tmp_path / "in").resolve(),
        voice_dirs=(tmp_path / "v1", tmp_path / "v2"), tts_threads=3, use_cuda=True, max_book_bytes=100_000,
        max_unpacked_bytes=300 * 2**20, max_book_chars=12345, max_chapters=77, max_segments=999,
        max_audio_hours=12.5, max_parse_s=30.0, max_segment_chars=150, ack_wait_s=4.0, max_deliver=7,
        worker_name="parent", otlp_endpoint="http://jaeger:4318", nats_user="tts", nats_password="secret",
        nats_tls_ca=tmp_path / "ca.pem", max_parse_bytes=300 * 2**20, max_store_gb=5.5,
        preload=("piper/en_US-joe-medium", "espeak"),
    )
    child = Settings.from_env(parent.as_env())
    # every field but the worker name (each process names itself) and what OTEL_* alone configures
    skip = {"worker_name", "service_name"}
    for field in dataclasses.fields(Settings):
        if field.name not in skip:
            assert getattr(child, field.name) == getattr(parent, field.name), field.name
    assert Settings.from_env(Settings(data_dir=tmp_path).as_env()).tts_threads is None, "unset stays unset"


def test_numbers_from_the_environment_are_finite_and_in_range() -> None:
    import pytest

    for name in ("MAX_BOOK_MB", "MAX_PARSE_MB", "MAX_STORE_GB", "MAX_AUDIO_HOURS", "MAX_PARSE_S", "TTS_THREADS"):
        for bad in ("nan", "inf", "-1", "0", "lots"):
            with pytest.raises(ValueError, match=f"AUDIOBOOK_{name} must be a"):
                Settings.from_env({f"AUDIOBOOK_{name}": bad})
    assert Settings.from_env({"AUDIOBOOK_SIMULATED_RTF": "0"}).simulated_rtf == 0
    assert Settings.from_env({"AUDIOBOOK_MAX_PARSE_MB": "512"}).max_parse_bytes == 512 * 2**20
