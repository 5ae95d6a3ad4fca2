"""Measure the finished book's loudness while it is being built.

The book's audio passes through ffmpeg's EBU R 128 meter (``ebur128``, with true peak) as it is
appended, segment by segment, so the measurement is of the very bytes the M4B holds (the remux
is a stream copy) and costs the conversion no time of its own: by the last segment, all but
its audio has been measured. A meter that fails never fails the book; it reports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?\d+(?:\.\d+)?|-inf) LUFS")
TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?\d+(?:\.\d+)?|-inf) dBFS")


@dataclass(frozen=True)
class Loudness:
    lufs: float  # integrated loudness
    true_peak_dbtp: float


def parse_summary(text: str) -> Loudness | None:
    """The integrated loudness and true peak from ffmpeg's ebur128 summary (None if absent or silent)."""
    integrated, peak = INTEGRATED.findall(text), TRUE_PEAK.findall(text)
    if not integrated or not peak or "-inf" in (integrated[-1], peak[-1]):
        return None
    return Loudness(float(integrated[-1]), float(peak[-1]))


def meter_command(ffmpeg: str) -> list[str]:
    """ffmpeg reading ADTS on stdin, measuring it, writing nothing."""
    return [ffmpeg, "-hide_banner", "-nostats", "-f", "aac", "-i", "pipe:0",
            "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]


class LoudnessMeter:
    """Feed it the book's ADTS bytes in order; ``result()`` once they are all in."""

    def __init__(self, ffmpeg: str) -> None:
        self.ffmpeg = ffmpeg
        self.proc: asyncio.subprocess.Process | None = None
        self.log: asyncio.Task[bytes] | None = None
        self.broken = False

    async def start(self) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *meter_command(self.ffmpeg), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.warning("loudness meter not started: %s", exc)
            self.broken = True
            return
        assert self.proc.stderr is not None
        self.log = asyncio.create_task(self.proc.stderr.read())

    async def feed(self, data: bytes) -> None:
        if self.broken or self.proc is None or self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            log.warning("loudness meter stopped: %s", exc)
            self.broken = True

    async def result(self) -> Loudness | None:
        """Close the input and read the measurement."""
        if self.proc is None or self.log is None:
            return None
        if self.proc.stdin is not None:
            self.proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self.proc.stdin.wait_closed()
        text = (await self.log).decode(errors="replace")
        await self.proc.wait()
        measured = None if self.broken else parse_summary(text)
        if measured is None:
            log.warning("no loudness measurement (ffmpeg said: %s)", text[-300:])
        return measured

    async def close(self) -> None:
        """Stop a meter whose book was not finished."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self.log is not None:
            self.log.cancel()
