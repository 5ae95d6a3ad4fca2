"""Command tickets: a worker reports only the segments it was given (events.tickets)."""

from __future__ import annotations

from events.tickets import holds_ticket, signed, ticket, ticket_for
from events.types import JobCompleted, SegmentFailed, SegmentSynthesized, SynthesizeSegment
from services.tts import decide
from services.tts.decide import StoredAudio

KEY = "k" * 64


def command(**changes: object) -> SynthesizeSegment:
    base = SynthesizeSegment("j1", 2, 5, ("Some text.",), "test", "short", 1.0, 250, "key", generation=1,
                             duplicates=((3, 0), (4, 7)))
    return signed(base, KEY) if not changes else signed(SynthesizeSegment(**{**base.__dict__, **changes}), KEY)


def test_each_position_of_a_command_has_its_own_ticket() -> None:
    job = command()
    assert len(job.tickets) == 3 and len(set(job.tickets)) == 3
    assert job.tickets[1] == ticket(KEY, "j1", 3, 0, 1) == ticket_for(job, (3, 0))
    assert ticket_for(job, (9, 9)) == "", "no ticket for a position the command is not for"
    assert signed(job, None) is job and not signed(SynthesizeSegment(**{**job.__dict__, "tickets": ()}), "").tickets


def test_a_worker_s_events_carry_the_tickets_and_hold_them() -> None:
    job = command(check_language="en")
    events = decide.synthesized(job, "audio/key.aac", StoredAudio(1024, 22050), worker="w", delivery=1,
                                cache_hit=False, takes=3)
    assert [(e.chapter, e.index) for e in events] == [(2, 5), (3, 0), (4, 7)]
    assert all(holds_ticket(e, KEY) for e in events)
    retake = events[0].check.retake if events[0].check else None
    assert retake is not None and retake.tickets == job.tickets[:1], "a retake reports its one position"
    assert all(holds_ticket(e, KEY) for e in decide.failed(job, "no", "w"))


def test_an_event_without_its_command_s_ticket_is_not_counted() -> None:
    real = decide.synthesized(command(), "audio/key.aac", StoredAudio(1024, 22050), worker="w", delivery=1,
                              cache_hit=False)[0]
    forged = [
        SegmentSynthesized("j1", 2, 5, "audio/other.aac", 1024, 22050),  # no ticket
        SegmentSynthesized("j2", 2, 5, "audio/key.aac", 1024, 22050, ticket=real.ticket),  # another job's
        SegmentSynthesized("j1", 2, 6, "audio/key.aac", 1024, 22050, ticket=real.ticket),  # another position
        SegmentSynthesized("j1", 2, 5, "audio/key.aac", 1024, 22050, generation=2, ticket=real.ticket),
        SegmentFailed("j1", 2, 5, "forged", ticket="0" * 32),
    ]
    assert holds_ticket(real, KEY)
    assert not any(holds_ticket(event, KEY) for event in forged)
    assert all(holds_ticket(event, None) for event in forged), "a stack without a key checks nothing"
    assert holds_ticket(JobCompleted("j1", "books/j1.m4b", 1.0, 1, 1, 7), KEY), "only segment events carry tickets"
