"""Each book read in its own language: the language decision, the voice table, routing names (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from events import names
from events.audio import cache_key
from events.projection import JobState, waiting_for
from events.requests import RequestError, job_id_for, parse_request
from services.engines.espeak import espeak_program
from services.engines.piper import DEFAULT_VOICE as PIPER_DEFAULT_VOICE
from services.engines.piper import piper_voices
from services.parse.book import Book, Chapter
from services.parse.language import book_language, decide_language
from services.parse.limits import BookLimits
from services.parse.readers.epub import read_epub
from services.voices import (
    UnknownVoiceError,
    choose_voice,
    primary_language,
    resolve_voice,
    voice_language,
)
from tests.conftest import book

needs_espeak = pytest.mark.skipif(espeak_program() is None, reason="espeak-ng is not installed (scripts/setup)")


@pytest.mark.parametrize(("declared", "detected", "score", "chosen"), [
    ("fr", "fr", 0.99, "fr"),  # agree
    ("fr-FR", "fr", 0.99, "fr-FR"),  # the declared tag keeps its region
    ("en", "fr", 0.99, "fr"),  # a French book tagged English: the text wins
    ("en", "fr", 0.6, "en"),  # unsure: the declaration stands
    ("", "de", 0.9, "de"),  # nothing declared: the text decides
    ("", "de", 0.1, "en"),  # nothing declared, nothing sure: English
    ("de-AT", "", 0.0, "de-AT"),  # no text to judge
])
def test_language_decision(declared: str, detected: str, score: float, chosen: str) -> None:
    assert decide_language(declared, detected, score) == chosen


def test_the_test_books_languages_come_from_their_text() -> None:
    for name, language in (("epub/pg14155_madame-bovary_fr.epub", "fr"), ("epub/pg22367_die-verwandlung_de.epub", "de"),
                           ("epub/pg84_frankenstein_epub2-ncx.epub", "en")):
        parsed = read_epub(book(name), BookLimits())
        choice = book_language(parsed)
        assert primary_language(choice.language) == language and choice.detected == language, (name, choice)


def test_a_mislabelled_book_is_read_in_the_language_of_its_text() -> None:
    french = read_epub(book("epub/pg14155_madame-bovary_fr.epub"), BookLimits())
    mislabelled = Book(title=french.title, author=french.author, language="en", chapters=french.chapters)
    assert book_language(mislabelled).language == "fr" and book_language(mislabelled).overruled
    chapters = (Chapter("1", ("Guten Tag, wie geht es Ihnen heute?",)), Chapter("2", ("Das Wetter ist schön.",)))
    undeclared = Book(title="x", author="", language="", chapters=chapters)
    assert book_language(undeclared).language == "de"


def test_english_gets_the_packaged_neural_voice() -> None:
    assert choose_voice("en").voice == PIPER_DEFAULT_VOICE
    assert choose_voice("en-GB").voice == PIPER_DEFAULT_VOICE


@needs_espeak
def test_languages_without_a_neural_voice_get_espeak_in_their_home_variety() -> None:
    assert (choose_voice("fr").engine, choose_voice("fr").voice) == ("espeak", "fr-fr")
    assert choose_voice("fr-BE").voice == "fr-be"
    assert choose_voice("de-AT").voice == "de"
    assert choose_voice("pt-BR").voice == "pt-br"
    with pytest.raises(UnknownVoiceError, match="no voice of any engine here speaks 'tlh'"):
        choose_voice("tlh")


def _piper_voice(folder: Path, name: str, code: str) -> None:
    (folder / f"{name}.onnx").write_bytes(b"not a real model: the registry never loads it")
    (folder / f"{name}.onnx.json").write_text(json.dumps({"language": {"code": code}, "audio": {"sample_rate": 22050}}))


def test_a_piper_voice_for_the_language_beats_espeak(tmp_path: Path) -> None:
    _piper_voice(tmp_path, "fr_FR-siwis-medium", "fr_FR")
    _piper_voice(tmp_path, "de_DE-thorsten-medium", "de_DE")
    voices = piper_voices([tmp_path])
    assert voices["fr_FR-siwis-medium"].languages == ("fr-FR",)
    assert choose_voice("fr", voice_dirs=[tmp_path]).voice == "fr_FR-siwis-medium"
    assert choose_voice("de-AT", voice_dirs=[tmp_path]).voice == "de_DE-thorsten-medium"
    assert choose_voice("fr", engine="piper", voice_dirs=[tmp_path]).voice == "fr_FR-siwis-medium"
    with pytest.raises(UnknownVoiceError, match="no voice of engine piper speaks 'it'"):
        choose_voice("it", engine="piper", voice_dirs=[tmp_path])


def test_a_named_voice_must_exist() -> None:
    with pytest.raises(UnknownVoiceError, match="unknown voice 'nobody' for engine piper"):
        resolve_voice("piper", "nobody")
    with pytest.raises(UnknownVoiceError, match="unknown engine 'festival'"):
        resolve_voice("festival", None)


def test_many_language_voices_are_told_the_language_and_it_keys_the_cache() -> None:
    from services.voices import VoiceInfo

    xtts = VoiceInfo("coqui", "xtts/reader", "v", languages=("en", "fr", "de", "zh-cn"))
    assert voice_language(xtts, "fr-FR") == "fr" and voice_language(xtts, "zh") == "zh-cn"
    assert voice_language(resolve_voice("piper", None), "en") == ""
    one = cache_key(["Bonjour."], "coqui", "xtts/reader", "v", 1.0, 100)
    assert cache_key(["Bonjour."], "coqui", "xtts/reader", "v", 1.0, 100, "fr") != one
    assert cache_key(["Bonjour."], "coqui", "xtts/reader", "v", 1.0, 100, "") == one


def test_language_in_the_request() -> None:
    request = parse_request(orjson.dumps({"source": "a.epub", "language": "de-AT"}))
    assert request.language == "de-AT" and parse_request(request.encode()) == request
    with pytest.raises(RequestError, match='"language" must be a language tag'):
        parse_request(orjson.dumps({"source": "a.epub", "language": "French please"}))
    base = job_id_for("ab" * 32, None, None, 1.0)
    assert base != job_id_for("ab" * 32, None, None, 1.0, "fr")
    assert base != job_id_for("ab" * 32, "espeak", None, 1.0)


def test_each_engine_has_its_own_queue() -> None:
    subject = names.synth_subject("coqui", "j1", 2, 7)
    assert subject == "synth.coqui.j1.2.7" and names.synth_position(subject, "j1") == (2, 7)
    assert names.synth_position("synth.j1.2.7", "j1") is None  # the old layout
    assert names.synth_position("synth.no such.j1.2.7", "j1") is None  # an engine is one subject token
    assert names.engine_synth_filter("coqui") == "synth.coqui.>" and names.engine_consumer("coqui") == "tts-coqui"
    assert names.destination_template(subject) == "synth.coqui"
    with pytest.raises(ValueError):
        names.engine_consumer("festival.>")


def test_a_job_nobody_serves_is_waiting_not_failed() -> None:
    state = JobState(job_id="j", status="parsed", engine="coqui", voice="xtts/reader")
    assert waiting_for(state, {"piper", "test"}) == "waiting for a coqui worker"
    assert waiting_for(state, {"coqui"}) == ""
    assert waiting_for(JobState(job_id="j", status="completed", engine="coqui"), set()) == ""


def test_a_checked_job_with_no_check_worker_says_so() -> None:
    from events.state import CHECK_SERVED
    from services.bus.jobs import served_engines

    state = JobState(job_id="j", status="parsed", engine="piper", voice="v", check="sample:0.1")
    assert waiting_for(state, {"piper"}) == "waiting for a check worker"
    assert served_engines([{"role": "tts", "engines": ["piper"]}, {"role": "check"}]) == {"piper", CHECK_SERVED}
    assert waiting_for(state, {"piper", CHECK_SERVED}) == ""
    assert waiting_for(JobState(job_id="j", status="parsed", engine="piper", check=""), {"piper"}) == ""


def test_a_reference_recording_in_the_request() -> None:
    request = parse_request(orjson.dumps({"source": "a.epub", "engine": "coqui", "speaker": {"object": "me.wav"}}))
    assert request.speaker_object == "me.wav" and parse_request(request.encode()) == request
    with pytest.raises(RequestError, match='"speaker" must be'):
        parse_request(orjson.dumps({"source": "a.epub", "speaker": {"path": "/etc/passwd"}}))
    assert job_id_for("ab" * 32, "coqui", "x", 1.0, None, "cd" * 32) != job_id_for("ab" * 32, "coqui", "x", 1.0)


def test_a_recording_must_be_a_short_wav(tmp_path: Path) -> None:
    import wave

    from services.parse.speaker import SpeakerError, check_recording

    def wav(name: str, seconds: float) -> Path:
        path = tmp_path / name
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(b"\x01\x00" * int(16000 * seconds))
        return path

    assert check_recording(wav("ok.wav", 5.0)) == 5.0
    with pytest.raises(SpeakerError, match=r"2 s to 2 minutes; it is 0\.5 s"):
        check_recording(wav("short.wav", 0.5))
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(SpeakerError, match="not a readable WAV"):
        check_recording(tmp_path / "text.wav")


def test_the_registry_lists_every_engine_a_job_can_name() -> None:
    from services.voices import LISTED_ENGINES

    assert LISTED_ENGINES == ("piper", "coqui", "espeak", "test", "damaged")  # best first; each has its queue
    assert [names.engine_consumer(engine) for engine in LISTED_ENGINES] == [
        "tts-piper", "tts-coqui", "tts-espeak", "tts-test", "tts-damaged"]
