"""The embedded stack keeps its services running: `audiobook convert` with a service killed under it
(as the kernel's out-of-memory killer would) finishes the book, and one that cannot stay up ends
the command with its log instead of a wait for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.app.stack import RUNNING
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def service_pid(parent: int, role: str) -> int | None:
    """The pid of the `audiobook serve ROLE` child of ``parent`` (Linux /proc), if one runs."""
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in argv and role.encode() in argv:
                return int(child)
    return None


def start_convert(tmp_path: Path, rtf: str, workers: int = 1) -> tuple[subprocess.Popen[str], Path]:
    data = tmp_path / "data"
    sample = tmp_path / "sample.epub"
    # the killed worker's segment comes back after the ack wait: 10 s, not a minute
    env = dict(os.environ, AUDIOBOOK_DATA_DIR=str(data), AUDIOBOOK_MAX_SEGMENT_CHARS="120", AUDIOBOOK_SIMULATED_RTF=rtf,
               AUDIOBOOK_ACK_WAIT="10")
    env.pop("AUDIOBOOK_NATS_URL", None)
    made = subprocess.run([sys.executable, "-m", "services", "sample-book", str(sample)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    converting = subprocess.Popen(
        [sys.executable, "-m", "services", "convert", str(sample), "-o", str(tmp_path / "s.m4b"), "--engine", "test",
         "--workers", str(workers), "-q"], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return converting, data


def kill_service(converting: subprocess.Popen[str], data: Path, role: str, after: int | None = None) -> int:
    """SIGKILL the convert's ROLE service; ``after``: only a pid other than that one (a restarted one)."""
    deadline = time.monotonic() + 60
    while True:
        assert converting.poll() is None, converting.communicate()
        assert time.monotonic() < deadline, f"no new {role} service appeared"
        pid = service_pid(converting.pid, role) if (data / RUNNING).exists() else None
        if pid is not None and pid != after:
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.1)


def test_a_service_killed_under_a_conversion_is_started_again_and_the_book_finishes(tmp_path: Path) -> None:
    converting, data = start_convert(tmp_path, rtf="1")  # a minute or so of simulated model time
    try:
        time.sleep(3)  # mid-book: the worker holds a segment
        kill_service(converting, data, "tts")
        deadline = time.monotonic() + 60  # (a signal before its handler is set would end the process)
        while "assemble service ready" not in (data / "logs" / "assemble.log").read_text():
            assert converting.poll() is None and time.monotonic() < deadline, "the assembler never got ready"
            time.sleep(0.1)
        assemble = service_pid(converting.pid, "assemble")
        assert assemble is not None
        os.kill(assemble, signal.SIGUSR1)  # where it waits, in its log (services.app.stacks); it goes on
        os.kill(assemble, signal.SIGUSR2)
        out, err = converting.communicate(timeout=300)
    finally:
        if converting.poll() is None:
            converting.kill()
    assert converting.returncode == 0, err
    assert "the embedded tts service stopped (killed by signal 9); starting it again" in err
    assert "s.m4b: 3 chapters" in out
    log = (data / "logs" / "assemble.log").read_text()
    assert "(most recent call first)" in log, log[-3000:]  # every thread's stack
    assert "asyncio task(s)" in log and "task assemble:\n  " in log, log[-3000:]  # the service's awaits


def test_a_service_that_cannot_stay_up_ends_the_conversion_with_its_log(tmp_path: Path) -> None:
    converting, data = start_convert(tmp_path, rtf="4")
    try:
        pid = None
        for _ in range(4):  # the first run and its three restarts
            pid = kill_service(converting, data, "assemble", after=pid)
        _, err = converting.communicate(timeout=60)
    finally:
        if converting.poll() is None:
            converting.kill()
    assert converting.returncode != 0
    assert "the embedded assemble service stopped 4 times (killed by signal 9)" in err, err
    assert str(data / "logs" / "assemble.log") in err
    assert not (data / RUNNING).exists() and not (tmp_path / "s.m4b").exists()


def test_a_worker_of_serve_killed_is_started_again(tmp_path: Path) -> None:
    """`serve tts --workers 2` keeps its worker processes (the compose and embedded multi-worker case)."""
    converting, data = start_convert(tmp_path, rtf="1", workers=2)
    try:
        deadline = time.monotonic() + 60
        while (tts := service_pid(converting.pid, "tts")) is None or (worker := service_pid(tts, "tts")) is None:
            assert converting.poll() is None and time.monotonic() < deadline, "no tts worker process appeared"
            time.sleep(0.1)
        time.sleep(2)
        os.kill(worker, signal.SIGKILL)
        out, err = converting.communicate(timeout=300)
    finally:
        if converting.poll() is None:
            converting.kill()
    assert converting.returncode == 0, err
    assert "s.m4b: 3 chapters" in out
    assert "stopped (killed by signal 9); starting it again (1 of any)" in (data / "logs" / "tts.log").read_text()
