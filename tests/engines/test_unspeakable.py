"""No book fails because a segment has nothing to say: checked with the real Piper voice.

Frankenstein's Chapter 15 (../shared/testbooks) used to plan segments of a lone closing
quotation mark; Piper gives no audio for them and the book failed for good.
"""

from __future__ import annotations

import numpy as np
import pytest

from events.audio import speakable
from events.types import SynthesizeSegment
from services.parse.plan import plan_job
from services.parse.readers.epub import read_epub
from services.tts.engines import SynthesisError, load_engine
from services.tts.render import render_segments
from services.voices import choose_voice
from tests.conftest import book

PUNCTUATION_ONLY = ["’", "”", "«", "»", '"', ".", "..", "–", "[…]"]


@pytest.fixture(scope="module")
def piper():  # type: ignore[no-untyped-def]
    return load_engine(choose_voice("en"))


def _job(*paragraphs: str, pause_after_ms: int = 650) -> SynthesizeSegment:
    return SynthesizeSegment(job_id="j", chapter=0, index=0, paragraphs=paragraphs, engine="piper", voice="v",
                             speed=1.0, pause_after_ms=pause_after_ms, cache_key="k")


def test_frankenstein_chapter_15_plans_only_segments_with_words_and_piper_speaks_each(piper) -> None:  # type: ignore[no-untyped-def]
    frankenstein = read_epub(book("epub/pg84_frankenstein_epub2-ncx.epub"))
    chapter = frankenstein.chapters[18]
    assert chapter.title == "Chapter 15"
    plan = plan_job(frankenstein, "j", choose_voice("en"), 1.0, 400)
    segments = [job for _, job in plan.jobs if job.chapter == 18]
    assert segments and all(speakable(piece) for job in segments for piece in job.paragraphs)
    closing = [job for job in segments if any(piece.endswith(("’", "”")) for piece in job.paragraphs)]
    assert closing, "the quotations that used to be split off are spoken with their sentence"
    audio = render_segments(piper, closing[:6])
    pause = int(piper.sample_rate * 0.65) * 2
    assert all(len(pcm) > pause + piper.sample_rate for pcm in audio), "speech, not the pause alone"


@pytest.mark.parametrize("text", PUNCTUATION_ONLY)
def test_text_without_words_is_the_segments_pauses_not_a_failure(piper, text: str) -> None:  # type: ignore[no-untyped-def]
    assert piper.speak([text], 1.0) == [[]], "Piper makes no audio for it"
    (pcm,) = render_segments(piper, [_job(text, pause_after_ms=650)])
    samples = np.frombuffer(pcm, dtype=np.int16)
    assert len(samples) == int(piper.sample_rate * 0.65) and not samples.any()


def test_words_that_give_no_audio_still_fail_with_their_text() -> None:
    class Mute:
        sample_rate = 22050

        def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
            return [[] for _ in paragraphs]

    with pytest.raises(SynthesisError, match=r"no audio for this text: 'Call me Ishmael\.'"):
        render_segments(Mute(), [_job("Call me Ishmael.")])  # type: ignore[arg-type]
