"""The embedded stack's supervisor, over real short-lived processes: a crash is restarted, a clean
exit is left alone, and a service that keeps crashing ends the command with its log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from services.app.supervise import ServiceFailed, Supervisor, supervised


def starter(code: str, log: Path, started: list[int]):  # type: ignore[no-untyped-def]
    def start() -> subprocess.Popen[bytes]:
        started.append(1)
        with open(log, "ab") as out:
            return subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)
    return start


def settle(supervisor: Supervisor) -> None:
    for kept in supervisor.kept:
        kept.proc.wait()


def test_a_crash_is_restarted_and_a_clean_exit_is_not(tmp_path: Path) -> None:
    crashes, exits = [], []
    supervisor = Supervisor(restarts=3)
    supervisor.keep("tts", starter("raise SystemExit(1)", tmp_path / "tts.log", crashes), tmp_path / "tts.log")
    supervisor.keep("parse", starter("pass", tmp_path / "parse.log", exits), tmp_path / "parse.log")
    for _ in range(3):
        settle(supervisor)
        supervisor.check()
    assert len(crashes) == 4 and len(exits) == 1


def test_a_service_that_keeps_crashing_says_why_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "assemble.log"
    supervisor = Supervisor(restarts=2)
    crash = "import sys; print('ImportError: no module x'); sys.exit(2)"
    supervisor.keep("embedded assemble service", starter(crash, log, []), log)
    with pytest.raises(ServiceFailed) as caught:
        for _ in range(3):
            settle(supervisor)
            supervisor.check()
    message = str(caught.value)
    assert "embedded assemble service stopped 3 times (exit code 2)" in message
    assert "ImportError: no module x" in message and str(log) in message


def test_a_killed_service_is_named_by_its_signal(tmp_path: Path) -> None:
    supervisor = Supervisor(restarts=0)
    supervisor.keep("parse", starter("import time; time.sleep(60)", tmp_path / "p.log", []))
    supervisor.kept[0].proc.kill()
    settle(supervisor)
    with pytest.raises(ServiceFailed, match="killed by signal 9"):
        supervisor.check()


def test_the_command_waiting_on_a_failed_stack_ends_with_the_failure(tmp_path: Path) -> None:
    """What convert does: follow a job forever. The supervisor ends that wait with the reason."""
    supervisor = Supervisor(restarts=1)
    supervisor.keep("tts", starter("raise SystemExit(1)", tmp_path / "tts.log", []), tmp_path / "tts.log")

    async def follow_forever() -> None:
        async with supervised(supervisor):
            await asyncio.sleep(3600)

    async def main() -> None:
        await asyncio.wait_for(follow_forever(), timeout=30)

    with pytest.raises(ServiceFailed, match="stopped 2 times"):
        asyncio.run(main())
    for kept in supervisor.kept:
        kept.proc.wait()
