"""Scratch folders left by killed processes are removed; nobody else's are touched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from services.scratch import orphaned, scratch_folder, sweep_orphans


def test_a_folder_is_orphaned_when_its_process_is_gone() -> None:
    mine, now = os.getpid(), time.time()
    alive = {1, mine}.__contains__
    assert orphaned("audiobook-assemble-4242-ab_c9", now, mine, now - 60, alive), "its process is gone"
    assert not orphaned("audiobook-assemble-1-ab_c9", now, mine, now - 60, alive), "a live process's"
    assert not orphaned(f"audiobook-parse-{mine}-x1", now, mine, now - 60, alive), "this process's own"
    assert orphaned(f"audiobook-parse-{mine}-x1", now - 120, mine, now - 60, alive), \
        "older than this process: left by an earlier one with the same id (a restarted container)"
    for other in ("audiobook-assemble-x-1", "audiobook-4242", "tmp1234", "audiobook-Parse-4242-a", "pip-4242-a"):
        assert not orphaned(other, now - 1e6, mine, now, alive), other


def test_sweeping_removes_what_a_killed_process_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(gone.stdout)
    left = tmp_path / f"audiobook-assemble-{dead_pid}-q1w2e3"
    (left / "part").mkdir(parents=True)
    (left / "part" / "audio.aac").write_bytes(b"\0" * 1000)
    live = tmp_path / "audiobook-parse-1-abc"  # pid 1 is always there
    live.mkdir()
    other = tmp_path / "something-else"
    other.mkdir()
    with scratch_folder("assemble") as in_use:
        ours = Path(in_use)
        assert ours.parent == tmp_path and ours.name.startswith(f"audiobook-assemble-{os.getpid()}-")
        assert sweep_orphans() == [left]
        assert ours.exists(), "a folder in use is never removed"
    assert not left.exists() and live.exists() and other.exists()
