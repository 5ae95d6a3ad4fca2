"""A person asks a finished book for a new take of a segment (``audiobook retake``) on a real server:
real Piper speech damaged on purpose, heard by Whisper, and the book built again with the new take."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest

from events import names
from events.audio import stored_audio
from events.projection import COMPLETED
from events.types import JobCompleted, JobReopened, SegmentChecked, SegmentSynthesized
from services.assemble.ffmpeg import ffmpeg_exe
from services.client import JobStateError, PipelineClient
from services.engines.damage import damaged
from services.testing.waiting import accepted_job, job_events, job_state, wait_for
from tests.integration.helpers import running
from tests.integration.test_check import two_books_epub

pytestmark = pytest.mark.slow
RATE = 22050


def pcm(book: Path) -> np.ndarray:
    """The book's audio, decoded by ffmpeg: mono 16-bit samples at the voice's rate."""
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(book), "-f", "s16le", "-ac", "1", "-ar", str(RATE),
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float64)


def loudness_within(audio: np.ndarray, start: int, samples: int) -> float:
    """RMS of the middle half of a segment's span (clear of the edges' pauses and any codec delay)."""
    middle = audio[start + samples // 4:start + 3 * samples // 4]
    return float(np.sqrt(np.mean(middle ** 2))) if len(middle) else 0.0


async def test_a_retaken_segment_replaces_its_take_in_a_rebuilt_book(js, client, settings, tmp_path) -> None:
    """The voice says half of its takes as silence. Checked with no retakes of its own, the book keeps
    the silent ones, flagged; a person retakes one whose next take is spoken, and the book built
    again holds speech there, the check heard it fine, and the cache now holds that take."""
    two_books_epub(settings.input_dir / "two.epub")
    request = {"source": {"path": "two.epub"}, "engine": "damaged", "voice": "silence-50", "check": "all",
               "request_id": "asked"}
    async with running(["parse", "tts", "assemble", "check"], replace(settings, check_takes=1)):
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(request))
        job_id = await wait_for(lambda: accepted_job(js, "asked"), timeout=60)

        async def completions() -> list[JobCompleted]:
            return [e for e in await job_events(js, job_id) if isinstance(e, JobCompleted)]

        (first,) = await wait_for(completions, timeout=400)
        operator = PipelineClient(client, "test")
        before = tmp_path / "before.m4b"
        await operator.download(first.output_object, before)
        flagged = [v for v in await operator.verdicts(job_id) if not v.ok]
        assert flagged, "half the takes are silent: some are flagged"
        target = [v for v in flagged if not damaged(v.text, 0.5, "silence", 1)][-1]  # its next take is spoken
        position = (target.chapter, target.index)
        with pytest.raises(JobStateError, match=r"no segment 9\.1"):
            await operator.retake(job_id, ((8, 0),))

        _, submission = await operator.retake(job_id, (position,))
        outcome = await operator.follow(submission, tmp_path / "after.m4b")
    assert outcome.ok and outcome.output is not None

    events = await job_events(js, job_id)
    (reopened,) = [e for e in events if isinstance(e, JobReopened)]
    assert reopened.retakes == ((*position, 1),) and reopened.generation == 1
    retake = [e for e in events if isinstance(e, SegmentSynthesized) and (e.chapter, e.index) == position
              and e.take == 1]
    assert len(retake) == 1 and not retake[0].cache_hit and retake[0].generation == 1
    spoken = [e for e in events if isinstance(e, SegmentSynthesized)]
    assert all(e.spans and all(0 < start < end <= e.samples for _, start, end in e.spans) for e in spoken), (
        "every segment says where its sentences lie in its audio")
    heard = [e for e in events if isinstance(e, SegmentChecked) and (e.chapter, e.index) == position and e.take == 1]
    assert len(heard) == 1 and heard[0].ok, heard
    old, new = [e for e in events if isinstance(e, JobCompleted)]
    assert (old.generation, new.generation) == (0, 1)
    assert old.quality is not None and new.quality is not None
    assert new.quality.still_flagged == old.quality.still_flagged - 1
    assert (new.quality.flagged, new.quality.retaken) == (old.quality.flagged, 1), "as first heard; one retaken"
    state = await job_state(js, job_id)
    assert state.status == COMPLETED and position not in {(c, i) for c, i, _ in state.flagged_segments}

    # where the segment lies in the book: after every segment before it, each as long as its event says
    placed = {(e.chapter, e.index): e for e in events if isinstance(e, SegmentSynthesized) and e.take == 0}
    placed[position] = retake[0]
    start = sum(e.samples for key, e in placed.items() if key < position)
    was, now = pcm(before), pcm(outcome.output)
    assert loudness_within(was, start, placed[position].samples) < 30, "the first book held the silent take"
    assert loudness_within(now, start, placed[position].samples) > 300, "the rebuilt book holds the spoken one"
    assert start > RATE and np.array_equal(was[:start // 2], now[:start // 2]), "what comes before is unchanged"

    # the take heard fine is now the segment's cached audio: a later book with this sentence gets it
    cached = await js.object_store(names.AUDIO_BUCKET)
    content = names.first_take_object(retake[0].audio_object)
    assert (await cached.get(content)).data == (await cached.get(retake[0].audio_object)).data
    promoted = stored_audio((await cached.get_info(content)).description)
    assert promoted is not None and promoted.spans == retake[0].spans, "with the timings of the take it holds"
