"""Progress and ETA from measured throughput (pure): shared by the CLI's bar and the dashboard.

The rate is measured over a sliding window of what this reader saw happen; work that was
already done when it started watching, or answered from the cache, is not speed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Throughput:
    """Segments done over a sliding window of wall time; ETA = remaining / measured rate."""

    window_s: float = 60.0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def record(self, now: float, done: int) -> None:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def rate(self) -> float | None:
        """Segments per second over the window, or None before anything was measured."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def eta(self, remaining: int) -> float | None:
        rate = self.rate()
        return remaining / rate if rate else None


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
