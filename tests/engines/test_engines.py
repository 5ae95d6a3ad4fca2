"""The engines behind the one interface, each through its real code path: espeak-ng, Coqui VITS and XTTS.

Coqui models are tiny random-weight ones built at test time (services/testing/coqui_models.py) and loaded
through Coqui's own loader; they speak noise, so these tests check the path, not the voice.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from services.engines.coqui import coqui_voices
from services.engines.espeak import EspeakSynthesizer, espeak_program, espeak_voices
from services.testing.coqui_models import build_tiny_vits, build_tiny_xtts
from services.tts.engines import SynthesisError, load_engine
from services.voices import resolve_voice

needs_espeak = pytest.mark.skipif(espeak_program() is None, reason="espeak-ng is not installed (scripts/setup)")


def _samples(chunks: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(chunks), dtype=np.int16)


@needs_espeak
def test_espeak_speaks_french_and_german() -> None:
    french = EspeakSynthesizer(espeak_voices()["fr-fr"])
    assert french.sample_rate == 22050 and french.device == "cpu" and french.batch_size == 1
    (first, second) = french.speak(["Bonjour, comment allez-vous ?", "Il pleut."], 1.0)
    assert len(first) == 1 and np.abs(_samples(first)).max() > 1000, "real audio, not silence"
    assert len(_samples(first)) > len(_samples(second))
    fast = french.speak(["Bonjour, comment allez-vous ?"], 2.0)[0]
    assert len(_samples(fast)) < 0.7 * len(_samples(first)), "speed reaches espeak-ng"
    german = load_engine(resolve_voice("espeak", "de"))
    assert np.abs(_samples(german.speak(["Guten Morgen."], 1.0)[0])).max() > 1000
    with pytest.raises(SynthesisError, match="NUL"):
        french.speak(["a\x00b"], 1.0)


@needs_espeak
def test_espeak_speaks_a_paragraph_a_sentence_at_a_time() -> None:
    """One piece of audio per sentence, as the book's sentences were split: the read-along times each."""
    german = EspeakSynthesizer(espeak_voices()["de"])
    paragraph = ("Als Gregor Samsa erwachte, war er verwandelt. „Was ist mit mir geschehen?“ dachte er. "
                 "Es war kein Traum.")
    (chunks,) = german.speak([paragraph], 1.0, "de")
    assert len(chunks) == 3 and all(np.abs(_samples([c])).max() > 1000 for c in chunks)
    whole = _samples(german.speak(["Als Gregor Samsa erwachte, war er verwandelt."], 1.0, "de")[0])
    assert len(_samples(chunks[:1])) == len(whole), "a sentence sounds the same alone or in its paragraph"


@pytest.fixture(scope="module")
def coqui_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("TTS", reason="coqui-tts is not installed (pip install .[coqui])")
    if espeak_program() is None or shutil.which("ffmpeg") is None:  # Coqui's phonemizer; torchcodec's libraries
        pytest.skip("Coqui needs espeak-ng and FFmpeg from the system (scripts/setup installs them as root)")
    folder = tmp_path_factory.mktemp("coqui-voices")
    build_tiny_vits(folder / "tiny-vits")
    reference = folder / "reference.wav"
    subprocess.run([str(espeak_program() or "espeak-ng"), "-v", "en-us", "-w", str(reference),
                    "This is the voice to clone, read for a few seconds."], check=True)
    build_tiny_xtts(folder / "tiny-xtts", reference)
    return folder


def test_coqui_models_are_voices_with_their_languages(coqui_dir: Path) -> None:
    voices = coqui_voices([coqui_dir])
    assert set(voices) == {"tiny-vits", "tiny-xtts/reader"}, "XTTS is a voice only with a recording to clone"
    assert voices["tiny-vits"].languages == ("en-us",)
    assert voices["tiny-xtts/reader"].languages == ("en", "fr", "de")
    assert voices["tiny-xtts/reader"].speaker_wav.endswith("speakers/reader.wav")
    assert voices["tiny-vits"].model_version.startswith("vits:sha256:")


def test_vits_loads_through_coqui_and_speaks_a_batch(coqui_dir: Path) -> None:
    engine = load_engine(coqui_voices([coqui_dir])["tiny-vits"], threads=1, device="cpu")
    assert engine.sample_rate == 16000 and engine.device == "cpu"
    assert engine.batch_size == 1, "on a CPU batching loses (bench/coqui_engine.py); on a GPU it is 16"
    engine.sentences_per_pass = 4  # type: ignore[attr-defined]  # the GPU path, on the CPU
    spoken = engine.speak(["Hello there. How are you today?", "Fine."], 1.0)
    assert [len(p) for p in spoken] == [2, 1], "one chunk per sentence"
    assert all(len(_samples([chunk])) > 0 for paragraph in spoken for chunk in paragraph)


def test_vits_batched_is_the_same_audio_as_one_at_a_time(coqui_dir: Path) -> None:
    engine = load_engine(coqui_voices([coqui_dir])["tiny-vits"])
    model = engine.model  # type: ignore[attr-defined]
    model.inference_noise_scale = model.noise_scale = 0.0  # deterministic, to compare
    engine.sentences_per_pass = 4  # type: ignore[attr-defined]  # one padded pass, as on a GPU
    texts = ["A short one.", "A rather longer sentence, padded by nothing at all.", "Yes."]
    together = [_samples(p) for p in engine.speak(texts, 1.0)]
    alone = [_samples(engine.speak([t], 1.0)[0]) for t in texts]
    hop = 256
    for batched, single in zip(together, alone, strict=True):
        assert len(batched) == len(single), "padding changes no duration"
        body = len(single) - 4 * hop  # the decoder's receptive field reaches into the padding's zeros at the end
        assert np.abs(batched[:body].astype(int) - single[:body]).max() <= 2


def test_xtts_clones_the_reference_and_speaks_the_books_language(coqui_dir: Path) -> None:
    engine = load_engine(coqui_voices([coqui_dir])["tiny-xtts/reader"])
    assert engine.sample_rate == 24000 and engine.batch_size == 1
    (spoken,) = engine.speak(["Bonjour le monde."], 1.0, "fr")
    assert len(_samples(spoken)) > 0
    with pytest.raises(SynthesisError, match="does not speak 'ja'"):
        engine.speak(["こんにちは"], 1.0, "ja")


def test_xtts_text_limit_is_respected_by_cutting_never_truncating(coqui_dir: Path) -> None:
    engine = load_engine(coqui_voices([coqui_dir])["tiny-xtts/reader"])
    heard: list[str] = []
    real = engine.tts.tts  # type: ignore[attr-defined]

    def listening(text: str, **kwargs: object) -> object:
        heard.append(text)
        return real(text=text, **kwargs)

    engine.tts.tts = listening  # type: ignore[attr-defined]
    clause = "et puis il marcha longtemps dans la campagne grise, "
    sentence = ("Il partit au matin, " + clause * 12).strip().rstrip(",") + "."
    engine.speak([sentence], 1.0, "fr")
    limit = engine.char_limits["fr"]  # type: ignore[attr-defined]
    assert len(sentence) > 2 * limit and len(heard) >= 3
    assert all(len(piece) <= limit for piece in heard)
    assert " ".join(heard) == " ".join(sentence.split()), "every word spoken, in order"


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(coqui_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SynthesisError, match="torch sees no CUDA GPU"):
        load_engine(coqui_voices([coqui_dir])["tiny-vits"], device="cuda:0")
