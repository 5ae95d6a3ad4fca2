"""The applied stream sequence, kept beside a job's state rather than in it.

Where the fold has reached in the event stream is the transport's fact (a JetStream stream
sequence), not the job's. A reader that may see an event twice (the assembler reloading a
checkpoint, a live view) keeps a :class:`Tracked`: the state and the last sequence folded.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.folds import fold_event
from events.state import JobState
from events.types import Event


@dataclass
class Tracked:
    """A job's state and the tracking record beside it: the last stream sequence folded into it."""

    state: JobState
    seq: int = 0

    def seen(self, seq: int) -> bool:
        """Whether the event at stream sequence ``seq`` is already in the state (0: untracked, never)."""
        return bool(seq) and seq <= self.seq

    def apply(self, event: Event, seq: int) -> bool:
        """Fold ``event``, stored at stream sequence ``seq``, unless it is in the state already.

        Returns whether it was folded. ``seq`` 0 folds without moving the tracking.
        """
        if self.seen(seq):
            return False
        self.state = fold_event(event, self.state)
        self.seq = seq or self.seq
        return True
