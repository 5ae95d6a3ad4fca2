"""An independent loudness reading for tests: one ffmpeg ``ebur128`` pass over a whole file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from services.assemble.ffmpeg import ffmpeg_exe
from services.assemble.meter import Loudness

INTEGRATED = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?\d+(?:\.\d+)?|-inf) LUFS")
TRUE_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?\d+(?:\.\d+)?|-inf) dBFS")
RANGE = re.compile(r"Loudness range:\s*\n\s*LRA:\s*(\d+(?:\.\d+)?) LU")


def whole_file_loudness(path: Path) -> Loudness | None:
    """Integrated loudness, true peak and loudness range of ``path`` as ffmpeg's summary states them
    (None if silent)."""
    measured = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af",
                               "ebur128=peak=true:framelog=verbose", "-f", "null", "-"], capture_output=True, text=True)
    integrated, peak = INTEGRATED.findall(measured.stderr), TRUE_PEAK.findall(measured.stderr)
    spread = RANGE.findall(measured.stderr)
    if not integrated or not peak or not spread or "-inf" in (integrated[-1], peak[-1]):
        return None
    return Loudness(float(integrated[-1]), float(peak[-1]), float(spread[-1]))
