"""Read along on a real server: real Piper speech, its WebVTT cues heard back by Whisper.

Two chapters of real prose by other hands are converted; the cues must follow each other, stay
inside their chapter, give back each chapter's text as the book wrote it, start where the speech
starts (within 150 ms, measured on the decoded book), and a sample of them must hear as their text
(Whisper on the cue's span: word error rate at most 0.3).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import jiwer
import numpy as np
import pytest
import webvtt

from events import names
from events.types import SegmentSynthesized
from services.check.hearing import decode, load_model, packaged_model, resample
from services.check.words import spoken_words
from services.parse.formats import read_book
from services.spoken import normalize
from services.testing.waiting import job_events
from tests.integration.test_check import converted, two_books_epub

pytestmark = pytest.mark.slow
SAMPLED = 8  # cues heard back by Whisper


def seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def speech_onset(audio: np.ndarray, rate: int, near: float) -> float | None:
    """Where sound (10 ms windows over -40 dBFS) starts after the silence around ``near`` seconds."""
    window = rate // 100
    first = max(0, int((near - 0.2) * rate))
    stretch = audio[first:first + int(0.7 * rate)]
    count = len(stretch) // window
    rms = np.sqrt(np.mean(np.square(stretch[:count * window].reshape(count, window)), axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms) > -40)
    quiet = np.flatnonzero(20 * np.log10(rms) <= -40)
    if not len(loud) or not len(quiet) or quiet[0] > loud[0]:
        return None if not len(loud) else (first + loud[0] * window) / rate
    after_silence = loud[loud > quiet[0]]
    return (first + after_silence[0] * window) / rate if len(after_silence) else None


def words(text: str) -> str:
    """The words a narrator says, as the check compares them ("Mrs." as "missus", numbers in words)."""
    return " ".join(spoken_words(normalize(text, "en"), "en"))


async def test_cues_hear_as_their_text_and_start_with_their_speech(js, client, settings, tmp_path: Path) -> None:
    source = two_books_epub(settings.input_dir / "two.epub")
    request = {"source": {"path": "two.epub"}, "check": "off", "request_id": "read-along"}
    job_id, completed = await converted(js, client, settings, request, 400)
    assert completed.read_along_object == names.read_along_object(job_id)
    store = await js.object_store(names.OBJECT_BUCKET)
    book, cues_file = tmp_path / "book.m4b", tmp_path / "book.vtt"
    book.write_bytes((await store.get(completed.output_object)).data or b"")
    cues_file.write_bytes((await store.get(completed.read_along_object)).data or b"")
    cues = [(seconds(c.start), seconds(c.end), c.text) for c in webvtt.read(str(cues_file))]

    # each chapter's span of the book, from the segments' lengths
    segments = [e for e in await job_events(js, job_id) if isinstance(e, SegmentSynthesized)]
    rate = segments[0].sample_rate
    lengths: dict[int, int] = {}
    for event in {(e.chapter, e.index): e for e in segments}.values():
        lengths[event.chapter] = lengths.get(event.chapter, 0) + event.samples
    bounds, at = [], 0.0
    for chapter in sorted(lengths):
        bounds.append((at, at + lengths[chapter] / rate))
        at += lengths[chapter] / rate
    assert all(a[1] <= b[0] and a[0] < a[1] for a, b in pairwise(cues)), "in order, apart"
    chapters = read_book(source).chapters
    for (start, end), chapter in zip(bounds, chapters, strict=True):
        inside = [text for a, b, text in cues if start <= a and b <= end + 1e-3]
        said = " ".join(" ".join(p.split()) for p in chapter.paragraphs)
        assert " ".join(inside) == said, "the chapter's text, as the book wrote it"
    assert len(cues) == sum(1 for a, b, _ in cues if any(s <= a and b <= e + 1e-3 for s, e in bounds))
    assert completed.read_along_unaligned <= len(cues) // 4, completed.read_along_unaligned

    audio, audio_rate = decode(book.read_bytes())
    for start, _, text in cues:  # the speech starts with the cue: silence before it, sound within 150 ms
        onset = speech_onset(audio, audio_rate, start)
        assert onset is not None and -0.02 <= onset - start <= 0.15, (start, onset, text)
    model = load_model(packaged_model(settings.data_dir))
    long_enough = [cue for cue in cues if len(cue[2].split()) >= 8]  # a word error rate that means something
    picked = long_enough[::max(1, len(long_enough) // SAMPLED)][:SAMPLED]
    assert len(picked) == SAMPLED
    for start, end, text in picked:
        clip = resample(audio[int(start * audio_rate):int(end * audio_rate) + audio_rate // 4], audio_rate)
        parts, _ = model.transcribe(clip, language="en", word_timestamps=True, beam_size=1,
                                    condition_on_previous_text=False)
        heard = [word for part in parts for word in (part.words or [])]
        assert heard, f"nothing heard in the cue at {start:.2f} s: {text!r}"
        error = jiwer.wer(words(text), words(" ".join(w.word for w in heard)))
        assert error <= 0.3, (text, " ".join(w.word for w in heard), error)
