"""Progress and ETA from measured throughput (pure), and how to show it in a terminal."""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO


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


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; periodic plain lines otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self.last = 0.0
        self.throughput = Throughput()

    def baseline(self, done: int) -> None:
        """Work already done before this run (resume): not counted as throughput."""
        self.throughput.samples.clear()
        self.throughput.record(time.monotonic(), done)

    def update(self, done: int, total: int, audio_s: float, label: str = "", force: bool = False) -> None:
        now = time.monotonic()
        self.throughput.record(now, done)
        if not force and now - self.last < (0.2 if self.tty else self.every_s):
            return
        self.last = now
        eta = self.throughput.eta(total - done)
        share = done / total if total else 0.0
        text = f"{label} {done}/{total} segments {share:4.0%}  audio {clock(audio_s)}  ETA {clock(eta)}"
        if self.tty:
            width = 24
            filled = int(width * share)
            self.stream.write("\r[" + "#" * filled + "." * (width - filled) + "] " + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A one-off message (e.g. the final assembly step) on its own line."""
        self.stream.write(("\n" if self.tty else "") + text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
