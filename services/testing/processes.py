"""CPU time of child processes, read from /proc (Linux)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def cpu_seconds_of(proc: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds used so far by a running process and its waited-for children; 0 once it exited."""
    if proc is None or proc.poll() is not None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def cpu_seconds(procs: Mapping[str, subprocess.Popen[bytes] | None]) -> dict[str, float]:
    """CPU seconds used so far by each named process (with its children)."""
    return {name: cpu_seconds_of(proc) for name, proc in procs.items()}
