"""The tts stage's decisions (pure): skip, reuse or synthesize; what to report; how much to hold.

The worker reads what these need (the job's checkpoint, the stored audio's description) and
carries out what they return; nothing here touches NATS or a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from events.audio import StoredAudio
from events.projection import STOPPED, JobState
from events.tickets import ticket_for
from events.types import CheckOrder, SegmentFailed, SegmentSynthesized, SynthesizeSegment

IO_COVER_S = 0.25  # keep enough segments in hand to cover this much round-trip time (at least)
IO_ROUND_TRIPS = 6  # a segment's round trips to the server: fetch, cache lookup, audio (2), event, ack
MAX_IN_HAND = 64


@dataclass(frozen=True)
class Skip:
    """The job was cancelled: drop the segment."""


@dataclass(frozen=True)
class Reuse:
    """The audio already exists: report it without running the model."""

    audio: StoredAudio


@dataclass(frozen=True)
class Synthesize:
    """Run the model."""


Action = Skip | Reuse | Synthesize


def cancelled(state: JobState | None, job: SynthesizeSegment) -> bool:
    """Whether the checkpoint says this job was cancelled in the command's generation."""
    return bool(state and state.status in STOPPED and state.generation == job.generation)


def action(is_cancelled: bool, stored: StoredAudio | None) -> Action:
    """Cache first: a cancelled job is skipped, existing audio reused, anything else synthesized."""
    if is_cancelled:
        return Skip()
    if stored is not None:
        return Reuse(stored)
    return Synthesize()


def synthesized(job: SynthesizeSegment, audio_object: str, audio: StoredAudio, *, worker: str, delivery: int,
                cache_hit: bool, synth_seconds: float = 0.0, takes: int = 1) -> list[SegmentSynthesized]:
    """One event per position the audio is for: the command's own, then its duplicates (cache hits).

    A segment to be checked carries what the check worker needs (its own position only: the
    duplicates are the same audio of the same text), and, when ``takes`` allows another take
    (a voice that varies, fresh audio), the command that asks for it. ``takes`` counts from the
    command's ``first_take``: a take a person asked for may be followed by ``takes - 1`` more.
    """
    order = None
    if job.check_language:
        last = job.first_take + takes  # a person's retake starts a run of takes of its own
        retake = (replace(job, take=job.take + 1, duplicates=(), tickets=job.tickets[:1])
                  if not cache_hit and job.take + 1 < last else None)
        order = CheckOrder(text="\n\n".join(job.paragraphs), language=job.check_language, speed=job.speed,
                           pause_after_ms=job.pause_after_ms, take=job.take, takes=max(last, job.take + 1),
                           retake=retake)
    first = SegmentSynthesized(
        job_id=job.job_id, chapter=job.chapter, index=job.index, audio_object=audio_object,
        samples=audio.samples, sample_rate=audio.sample_rate, cache_hit=cache_hit, worker=worker,
        synth_seconds=synth_seconds, generation=job.generation, delivery=delivery, check=order, take=job.take,
        spans=audio.spans, ticket=ticket_for(job, (job.chapter, job.index)),
    )
    return [first, *(SegmentSynthesized(
        job_id=job.job_id, chapter=chapter, index=index, audio_object=audio_object, samples=audio.samples,
        sample_rate=audio.sample_rate, cache_hit=True, worker=worker, generation=job.generation, delivery=delivery,
        spans=audio.spans, ticket=ticket_for(job, (chapter, index)),
    ) for chapter, index in job.duplicates)]


def exhausted_reason(deliveries: int) -> str:
    """Why a command the queue stopped delivering failed: every worker that took it stopped on it."""
    return (f"every tts worker that took it stopped before finishing it ({deliveries} deliveries): the text may "
            "crash the voice, or the workers ran out of memory or time on it")


def failed(job: SynthesizeSegment, reason: str, worker: str) -> list[SegmentFailed]:
    """One permanent failure per position the command was for."""
    return [SegmentFailed(job_id=job.job_id, chapter=chapter, index=index, reason=reason, worker=worker,
                          generation=job.generation, ticket=ticket_for(job, (chapter, index)))
            for chapter, index in job.positions()]


WARM_UP = 5  # segments averaged plainly before the moving average takes over


def model_time_estimate(previous: float | None, measured: int, seconds: float) -> float:
    """Model seconds per segment after one more measurement (``measured`` made before it).

    The first ``WARM_UP`` are averaged plainly: one short heading first must not make a worker
    believe segments are instant and take a handful of them, which then wait in its hands at
    the end of a book while other workers idle. After that, a moving average (weight 0.2).
    """
    if previous is None or measured <= 0:
        return seconds
    if measured < WARM_UP:
        return (previous * measured + seconds) / (measured + 1)
    return 0.8 * previous + 0.2 * seconds


def io_cover(rtt_s: float | None) -> float:
    """The I/O time to hide behind the model: a segment's round trips to the server, at the
    measured round-trip time (a worker far from the servers holds more), ``IO_COVER_S`` at least."""
    return max(IO_COVER_S, IO_ROUND_TRIPS * (rtt_s or 0.0))


def in_hand(seconds_per_segment: float | None, batch_size: int, cover_s: float = IO_COVER_S) -> int:
    """How many messages to hold: one in the model plus enough to hide I/O (``cover_s``: :func:`io_cover`)."""
    if seconds_per_segment is None:
        wanted = 2
    else:
        wanted = 1 + math.ceil(cover_s / max(seconds_per_segment, cover_s / MAX_IN_HAND))
    return max(2, 2 * batch_size, min(wanted, MAX_IN_HAND))


def work_ahead(held_estimate_s: float, running_for_s: float) -> float:
    """Model seconds still ahead in a worker's hands: the estimates of what it holds, less the
    time the model has already spent on the batch it is running."""
    return max(0.0, held_estimate_s - running_for_s)


def wanted_in_hand(base: int, held: int, ahead_s: float | None, next_s: float = 0.0,
                   cover_s: float = IO_COVER_S) -> int:
    """How many messages to hold now, ``base`` at most (:func:`in_hand`).

    Nothing is fetched to wait behind work that will keep the model busy for longer than a
    round trip: a segment taken early waits in this worker's hands while idle workers could
    speak it, which at the end of a book is the book's last minutes. So more is fetched only
    when the work ahead (``ahead_s``) is under ``cover_s`` (:func:`io_cover`), and only as many as fill that
    time if each is a full segment (``next_s``: the model time of one, as its length is not
    known before it arrives). A worker whose speed was timed on a short heading then takes
    one full-length segment, not a dozen; a fast model (``next_s`` near 0) fills its hands.
    Before its speed is measured (``ahead_s`` None) a worker holds one: its first segment
    may be the book's longest.
    """
    if ahead_s is None:
        return 1
    if held and ahead_s >= cover_s:
        return min(held, base)
    if next_s <= 0:
        return base
    return min(base, held + max(1, math.ceil((cover_s - ahead_s) / next_s)))


def room_in(ahead_s: float, cover_s: float = IO_COVER_S) -> float:
    """Seconds until the work ahead falls under ``cover_s`` (when to look again; at least 10 ms)."""
    return max(0.01, ahead_s - cover_s)
