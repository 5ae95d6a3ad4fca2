"""Tickets tie a segment event to the synthesis command a worker was given (pure).

The core (parse, and the check stage's retakes, which reuse the command's ticket) puts into
each command one ticket per position it speaks for: an HMAC, under a key only the core holds
(``AUDIOBOOK_COMMAND_KEY``), of the job, the position and the generation. A worker copies the
ticket of each position into the ``segment.synthesized`` or ``segment.failed`` it publishes
for it, and the assembler folds only events whose ticket is right. So a worker credential can
report the segments it was given, and never another job's: it cannot make a ticket.

With no key configured (a stack without roles, the in-process tests) nothing is checked.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from events.types import Event, SegmentFailed, SegmentSynthesized, SynthesizeSegment

TICKET_HEX = 32  # 128 bits of the HMAC-SHA256


def ticket(key: str, job_id: str, chapter: int, index: int, generation: int) -> str:
    """The ticket of one position of one job in one generation."""
    message = f"{job_id}\x00{chapter}\x00{index}\x00{generation}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:TICKET_HEX]


def signed(command: SynthesizeSegment, key: str | None) -> SynthesizeSegment:
    """``command`` with the ticket of each of its positions (unchanged without a key)."""
    if not key:
        return command
    return replace(command, tickets=tuple(ticket(key, command.job_id, chapter, index, command.generation)
                                          for chapter, index in command.positions()))


def ticket_for(command: SynthesizeSegment, position: tuple[int, int]) -> str:
    """The ticket a worker copies into its event for ``position`` ("" for an unsigned command)."""
    positions = command.positions()
    if position not in positions or len(command.tickets) != len(positions):
        return ""
    return command.tickets[positions.index(position)]


def holds_ticket(event: Event, key: str | None) -> bool:
    """Whether a segment event may be folded: no key, not a worker's event, or its ticket is right."""
    if not key or not isinstance(event, (SegmentSynthesized, SegmentFailed)):
        return True
    want = ticket(key, event.job_id, event.chapter, event.index, event.generation)
    return hmac.compare_digest(want, event.ticket)
