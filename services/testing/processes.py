"""Child processes read from /proc (Linux): their CPU time, and their stacks on request."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
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


def services_in_group(pgid: int) -> list[int]:
    """The ``audiobook serve`` processes of process group ``pgid`` (not its nats-server: SIGUSR2
    puts that into lame-duck mode)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue  # gone meanwhile
        if b"services" in argv and b"serve" in argv:
            found.append(int(entry.name))
    return found


def dump_stacks(pgid: int, wait_s: float = 1.0) -> None:
    """Have every service of process group ``pgid`` write its threads' and tasks' stacks into its
    log (``services.app.stacks``), and give them ``wait_s`` to do it."""
    for pid in services_in_group(pgid):
        for sig in (signal.SIGUSR1, signal.SIGUSR2):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    time.sleep(wait_s)
