"""Per-user limits on what a named user may ask of a shared stack (pure decisions).

A named user (``audiobook user add``) may send so many requests a minute (a token bucket: a
burst of that many, refilled at that rate), have so many jobs running at once, and so many hours
of audio still to make (their running books' estimates, less what is done). Past one,
the request is answered with a ``job.rejected`` naming the limit and its setting: the rate and
the jobs before its book is fetched or read, the hours once it is read (its estimate needs the
text). The shared client (the operator's own credentials) has no such limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from events.types import BookParsed
from services.parse.limits import estimated_hours


@dataclass
class RequestRate:
    """A token bucket per user: ``per_minute`` requests at once, then ``per_minute`` a minute."""

    per_minute: int
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # user -> (tokens, when)

    def admit(self, user: str, now: float) -> bool:
        """Whether ``user`` may send a request at ``now`` (monotonic seconds); takes a token if so."""
        if self.per_minute <= 0:
            return True
        tokens, then = self.buckets.get(user, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.per_minute / 60.0)
        admitted = tokens >= 1.0
        self.buckets[user] = (tokens - 1.0 if admitted else tokens, now)
        return admitted


def rate_refusal(user: str, per_minute: int) -> str:
    return (f"user {user!r} sent more than {per_minute} requests in a minute (AUDIOBOOK_USER_REQUESTS_PER_MINUTE): "
            "wait a minute and send it again")


def jobs_refusal(user: str, running: int, limit: int) -> str:
    """Why a user's new job is refused ("" when it is not): ``running`` of their jobs run now."""
    if limit <= 0 or running < limit:
        return ""
    return (f"user {user!r} has {running} jobs running, the most this stack allows (AUDIOBOOK_USER_MAX_JOBS={limit}): "
            "send it again when one has finished")


def hours_refusal(user: str, queued_hours: float, book_hours: float, limit: float) -> str:
    """Why a user's book is refused ("" when it is not): their running jobs' audio still to make
    (``queued_hours``) and this book's would be over ``limit`` hours."""
    if limit <= 0 or queued_hours + book_hours <= limit:
        return ""
    return (f"user {user!r} has {queued_hours:.1f} hours of audio still to make, and this book is "
            f"{book_hours:.1f} more: over the {limit:g} hours this stack allows (AUDIOBOOK_USER_MAX_QUEUED_HOURS); "
            "send it again when some has been made")


def remaining_hours(book: BookParsed, done: int, speed: float) -> float:
    """Hours of audio a job has still to make: its book's estimate at ``speed`` times the share of its
    segments not ``done`` (pure)."""
    total = sum(chapter.segments for chapter in book.chapters)
    left = 1.0 - (done / total if total else 0.0)
    return estimated_hours(sum(chapter.chars for chapter in book.chapters), speed or 1.0) * max(0.0, left)
