"""The embedded stack's services kept running while a command uses them.

A service that crashes (a non-zero exit, a signal such as the kernel's out-of-memory kill) is
started again, as compose's ``restart: unless-stopped`` would: nothing is lost, since every
service resumes from the log. One that keeps crashing (``RESTARTS`` times: it cannot start)
ends the command with the end of its log instead of leaving it waiting for work that no one
will do. A service that exits cleanly (drained, or stopped on purpose) is left stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from events.errors import PermanentError

log = logging.getLogger(__name__)

RESTARTS = 3
POLL_S = 0.5
LOG_LINES = 8


class ServiceFailed(PermanentError):
    """A service of the embedded stack kept crashing; the message holds the end of its log."""


@dataclass
class Kept:
    """One service process and how to start it again."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    log_path: Path | None
    proc: subprocess.Popen[bytes]
    restarts: int = 0


def log_tail(path: Path | None, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_all(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Stop processes together: SIGTERM to each first, then :func:`stop_process` each."""
    group = list(procs)
    for proc in group:
        if proc.poll() is None:
            proc.terminate()
    for proc in group:
        stop_process(proc, timeout)


def exit_reason(code: int) -> str:
    """A process's return code in words."""
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class Supervisor:
    """Starts services and, while :meth:`watch` runs, restarts the ones that crash."""

    def __init__(self, restarts: int | None = RESTARTS) -> None:
        self.restarts = restarts  # None: for ever (a long-running server's children)
        self.kept: list[Kept] = []

    def keep(self, name: str, start: Callable[[], subprocess.Popen[bytes]], log_path: Path | None = None) -> None:
        """Start a service with ``start`` and keep it running; ``name`` says what it is in messages."""
        self.kept.append(Kept(name, start, log_path, start()))

    def check(self) -> None:
        """Restart each service that crashed since the last check; raise once one is out of restarts."""
        for kept in self.kept:
            code = kept.proc.poll()
            if code is None or code == 0:
                continue
            if self.restarts is not None and kept.restarts >= self.restarts:
                where = f" ({kept.log_path})" if kept.log_path else ""
                raise ServiceFailed(
                    f"the {kept.name} stopped {kept.restarts + 1} times ({exit_reason(code)}); "
                    f"the end of its log{where}:\n{log_tail(kept.log_path)}")
            kept.restarts += 1
            log.warning("the %s stopped (%s); starting it again (%d of %s)",
                        kept.name, exit_reason(code), kept.restarts, self.restarts or "any")
            kept.proc = kept.start()

    def stop(self) -> None:
        """Stop every kept process (SIGTERM, then SIGKILL after 10 s)."""
        stop_all(kept.proc for kept in self.kept)

    async def watch(self, every: float = POLL_S) -> None:
        """Check every ``every`` seconds until a service is out of restarts (then raise)."""
        while True:
            await asyncio.sleep(every)
            self.check()


@contextlib.asynccontextmanager
async def supervised(supervisor: Supervisor) -> AsyncIterator[None]:
    """Run the body while ``supervisor`` watches; a service out of restarts ends the body with
    :class:`ServiceFailed` (the body is cancelled, then the error is raised in its place)."""
    owner = asyncio.current_task()
    assert owner is not None
    failed: list[ServiceFailed] = []

    async def guard() -> None:
        try:
            await supervisor.watch()
        except ServiceFailed as exc:
            failed.append(exc)
            owner.cancel()

    watcher = asyncio.create_task(guard())
    try:
        yield
    except asyncio.CancelledError:
        if failed:
            owner.uncancel()
            raise failed[0] from None
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
