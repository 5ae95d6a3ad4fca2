"""Per-user limits on what a named user may ask of a shared stack (pure decisions).

A named user (``audiobook user add``) may send so many requests a minute (a token bucket: a
burst of that many, refilled at that rate) and have so many jobs running at once. Past either,
the request is answered at once with a ``job.rejected`` naming the limit and its setting, and
costs nothing more: it is refused before its book is fetched or read. The shared client (the
operator's own credentials) has no such limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
