"""Segment rendering and the worker's in-hand rule (pure; the instant test engine stands in)."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from events.audio import AAC_FRAME, PARAGRAPH_PAUSE_MS, StoredAudio, stored_audio
from events.types import SynthesizeSegment
from services.assemble.m4b import adts_frames
from services.engines.instant import InstantSynthesizer
from services.tts.decide import MAX_IN_HAND, in_hand, wanted_in_hand, work_ahead
from services.tts.engines import SynthesisError
from services.tts.render import (
    Speech,
    aac_frames,
    decoded_spans,
    encode_adts,
    render_each,
    render_segments,
    render_timed,
    silent_frame,
    to_aac,
)
from services.voices import resolve_voice


def job(index: int, *paragraphs: str, speed: float = 1.0, pause: int = 100) -> SynthesizeSegment:
    return SynthesizeSegment(job_id="j", chapter=0, index=index, paragraphs=paragraphs, engine="test",
                             voice="short", speed=speed, cache_key=f"k{index}", pause_after_ms=pause)


class CountingEngine(InstantSynthesizer):
    def __init__(self) -> None:
        super().__init__(resolve_voice("test", "short"))
        self.calls: list[list[str]] = []

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        self.calls.append(list(paragraphs))
        return super().speak(paragraphs, speed, language)


def test_a_batch_is_one_engine_call_and_matches_one_by_one() -> None:
    engine = CountingEngine()
    jobs = [job(0, "One two.", "Three."), job(1, "Four five six."), job(2, "Seven.", speed=2.0)]
    together = render_segments(engine, jobs)
    assert len(engine.calls) == 2, "one call per speed"
    alone = [render_segments(engine, [j])[0] for j in jobs]
    assert together == alone
    rate = engine.sample_rate
    expected = 2 * ((len("One two.") + len("Three.")) * 8 * rate // 1000
                    + PARAGRAPH_PAUSE_MS * rate // 1000 + 100 * rate // 1000)
    assert abs(len(together[0]) - expected) <= 8


def test_chosen_pauses_are_rendered() -> None:
    """The request's paragraph and sentence pauses, not the defaults, separate the pieces."""
    from dataclasses import replace

    engine = CountingEngine()
    plain = job(0, "One. Two.", "Three.")
    slow = replace(plain, sentence_pause_ms=900, paragraph_pause_ms=2000)
    default, chosen = render_segments(engine, [plain])[0], render_segments(engine, [slow])[0]
    # the instant engine speaks a paragraph as one piece: the paragraph pause is what differs
    longer = (2000 - PARAGRAPH_PAUSE_MS) * engine.sample_rate // 1000 * 2  # 16-bit: two bytes a sample
    assert abs(len(chosen) - len(default) - longer) <= 4


def test_a_failing_segment_fails_alone() -> None:
    results = render_each(CountingEngine(), [job(0, "fine"), job(1, "bad\x00"), job(2, "also fine")])
    assert isinstance(results[1], SynthesisError)
    assert isinstance(results[0], Speech) and isinstance(results[2], Speech)


@pytest.mark.parametrize(("seconds", "batch", "expected"), [
    (None, 1, 2),  # nothing measured yet: one in the model, one ready
    (1.7, 1, 2),  # Piper on CPU: a segment takes longer than a round trip
    (0.1, 1, 4),
    (0.0, 1, MAX_IN_HAND),  # cache hits and instant engines: as many as allowed
    (1.0, 8, 16),  # a batching engine: a full batch in the model and the next one ready
])
def test_in_hand_covers_round_trips(seconds: float | None, batch: int, expected: int) -> None:
    assert in_hand(seconds, batch) == expected


@pytest.mark.parametrize(("held", "ahead", "next_s", "expected"), [
    (0, None, 0.5, 1),  # speed unknown: one, which may be the book's longest segment
    (1, None, 0.5, 1),  # nothing fetched to wait behind it
    (0, 0.0, 0.5, 1),  # speed known, empty hands: one full segment covers the round trip
    (1, 0.02, 0.5, 2),  # a short heading in the model: one more, not a handful
    (1, 0.02, 0.1, 4),  # shorter segments: as many as cover the round trip ...
    (1, 0.02, 0.01, 6),  # ... never more than the usual number
    (0, 0.0, 0.0, 6),  # an instant model: the usual number
    (1, 5.8, 0.5, 1),  # a long segment in the model: nothing waits behind it
    (4, 0.4, 0.5, 4),  # enough ahead
    (7, 9.0, 0.5, 6),
])
def test_nothing_waits_behind_long_work(held: int, ahead: float | None, next_s: float, expected: int) -> None:
    assert wanted_in_hand(6, held, ahead, next_s) == expected


def test_work_ahead_counts_the_time_already_spent() -> None:
    assert work_ahead(3.0, 1.0) == 2.0
    assert work_ahead(1.0, 2.5) == 0.0  # the model overran its estimate: nothing known ahead


class BatchingEngine(CountingEngine):
    batch_size = 4


async def test_the_batcher_gives_a_batching_engine_full_batches() -> None:
    from services.settings import Settings
    from services.tts.batcher import Batcher, EnginePool

    info = resolve_voice("test", "short")
    pool = EnginePool(Settings())
    engine = BatchingEngine()
    pool._engines[(info.engine, info.voice)] = engine
    batcher = Batcher(pool)
    try:
        jobs = [job(i, f"Sentence number {i}.") for i in range(6)]
        rendered = await asyncio.gather(*(batcher.render(info, j) for j in jobs))
    finally:
        batcher.close()
    assert [len(call) for call in engine.calls] == [4, 2], "six waiting segments: a batch of 4, then 2"
    assert batcher.batches == 2
    alone = [render_segments(CountingEngine(), [j])[0] for j in jobs]
    for one, pcm in zip(rendered, alone, strict=True):
        assert one.samples % 1024 == 0 and abs(one.samples - len(pcm) // 2) < 1024


def _decoded(aac: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(aac), format="adts") as container:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])


@pytest.mark.parametrize(("sound", "pause"), [(22050, 11025), (5000, 30000), (1500, 100), (3000, 0), (1, 0)])
def test_a_pause_is_copied_not_encoded_and_decodes_the_same(sound: int, pause: int) -> None:
    rate = 22050
    wave = (np.sin(np.arange(sound) / 7) * 8000 * np.random.default_rng(1).random(sound)).astype(np.int16)
    pcm = np.concatenate([wave, np.zeros(pause, dtype=np.int16)])
    aac, samples = to_aac(pcm.tobytes(), rate)
    whole = pcm[: max(1, len(pcm) - AAC_FRAME)]  # what the encoder was given before: everything
    whole = np.concatenate([whole, np.zeros(-len(whole) % AAC_FRAME, dtype=np.int16)])
    reference = encode_adts(whole, rate)
    assert samples == len(whole) + AAC_FRAME == adts_frames(io.BytesIO(aac)) * AAC_FRAME
    assert np.array_equal(_decoded(aac), _decoded(reference))
    if pause >= 3 * AAC_FRAME:  # the pause's last frames are copies of the one silent frame
        assert aac.endswith(silent_frame(rate) * (pause // AAC_FRAME - 3))


def test_silence_alone_opens_no_encoder() -> None:
    aac, samples = to_aac(bytes(2 * 45_000), 22050)
    assert aac == silent_frame(22050) * (samples // AAC_FRAME) and samples == aac_frames(45_000) * AAC_FRAME
    assert len(silent_frame(22050)) == 11 and not _decoded(aac).any()


class Pieces(InstantSynthesizer):
    """Speaks each paragraph as the sentences in it, each a run of one sample value (1, 2, 3, ...)."""

    def __init__(self) -> None:
        super().__init__(resolve_voice("test", "short"))

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        value = 0
        spoken = []
        for paragraph in paragraphs:
            chunks = []
            for sentence in paragraph.split(". "):
                value += 1
                chunks.append(np.full(len(sentence) * 10, value, dtype=np.int16).tobytes())
            spoken.append(chunks)
        return spoken


def test_each_piece_of_speech_is_where_its_span_says() -> None:
    """The spans name each sentence the engine returned, by paragraph piece, exactly where the
    pauses put it (these quiet runs are below hearing: nothing levels them)."""
    (speech,) = render_timed(Pieces(), [job(0, "One two. Three", "Four five six")])
    samples = np.frombuffer(speech.pcm, dtype=np.int16)
    assert [piece for piece, _, _ in speech.spans] == [0, 0, 1]
    for value, (_, start, end) in enumerate(speech.spans, start=1):
        assert set(samples[start:end]) == {value} and end - start > 0
        assert samples[start - 1] == 0 and samples[end] == 0, "pauses on both sides"


def test_spans_move_behind_the_priming_frame_of_the_decoded_audio() -> None:
    """A tone at a known place in the PCM is found, decoded, one frame later: the span follows it."""
    import av

    rate = 22050
    pcm = np.zeros(2 * rate, dtype=np.int16)
    pcm[10_000:14_000] = (8000 * np.sin(2 * np.pi * 440 * np.arange(4000) / rate)).astype(np.int16)
    aac, samples = to_aac(pcm.tobytes(), rate)
    ((_, start, end),) = decoded_spans(((0, 10_000, 14_000),), samples)
    with av.open(io.BytesIO(aac), format="adts") as container:
        decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    loud = np.flatnonzero(np.abs(decoded) > 0.03)
    assert abs(int(loud[0]) - start) <= 8 and abs(int(loud[-1]) + 1 - end) <= 8
    assert decoded_spans(((0, samples - 10, samples),), samples) == ((0, samples, samples),), "never past the end"


def test_spans_are_kept_with_the_stored_audio_and_bad_ones_are_dropped() -> None:
    audio = StoredAudio(45056, 22050, ((0, 1024, 9000), (1, 12000, 40000)))
    assert stored_audio(audio.description()) == audio
    assert stored_audio(StoredAudio(1024, 22050).description()) == StoredAudio(1024, 22050), "none: none kept"
    assert stored_audio('{"samples": 1024, "sample_rate": 22050}') == StoredAudio(1024, 22050), "stored before"
    for bad in ('[[0, 5, 2]]', '[[0, 1, 2048]]', '[[-1, 1, 2]]', '[[0, 1]]', '"x"', '[[0, 1, 2.5]]'):
        found = stored_audio('{"samples": 1024, "sample_rate": 22050, "spans": ' + bad + "}")
        assert found == StoredAudio(1024, 22050), bad


class LeadIn(InstantSynthesizer):
    """Says each paragraph as one sentence with a quiet lead-in and tail around its sound."""

    def __init__(self) -> None:
        super().__init__(resolve_voice("test", "short"))

    def speak(self, paragraphs: list[str], speed: float, language: str = "") -> list[list[bytes]]:
        sound = np.concatenate([np.full(1000, 40), np.full(2000, 9000), np.full(500, -40)]).astype(np.int16)
        return [[sound.tobytes()] for _ in paragraphs]


def test_a_span_starts_with_the_speech_not_the_voices_quiet_lead_in() -> None:
    (speech,) = render_timed(LeadIn(), [job(0, "One.", "Two.")])
    (_, first, end), (_, second, _) = speech.spans
    samples = np.frombuffer(speech.pcm, dtype=np.int16)
    assert end - first == 2000 and samples[first - 1] != samples[first] and abs(int(samples[end - 1])) > 300
    assert abs(int(samples[end])) < 300 and second > end
