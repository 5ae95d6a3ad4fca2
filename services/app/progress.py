"""How to show progress and ETA in a terminal (the measurement itself is ``events.progress``)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from events.progress import Throughput, clock

__all__ = ["ProgressBar", "Throughput", "clock"]


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
