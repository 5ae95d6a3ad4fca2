"""Scratch folders that do not outlive their process.

A service reads a book, or joins a book's audio (a 40-hour book is about 1 GB of AAC), in a
temporary folder that it removes when done. A process killed on the way (SIGKILL, out of
memory, power lost) cannot remove it, so each folder's name carries its process id, and a
service starting up removes the folders whose process is gone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
PREFIX = "audiobook-"
_NAME = re.compile(rf"^{PREFIX}([a-z]+)-(\d+)-[A-Za-z0-9_]+$")
STARTED = time.time()  # this process made none of its folders before this module was imported


def scratch_folder(role: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for ``role`` (letters only), named for this process; use it in ``with``."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{role}-{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def orphaned(name: str, mtime: float, pid: int = 0, started: float = STARTED,
             alive: Callable[[int], bool] = _alive) -> bool:
    """Is the scratch folder ``name`` (last changed at ``mtime``) left by a process that is gone?

    Its process is gone when no process has its id, or when the id is this process's own
    (``pid``) but the folder is older than this process: a container restarted with the same
    process id. A folder of a live process, or any other name, is not touched.
    """
    match = _NAME.match(name)
    if match is None:
        return False
    owner = int(match.group(2))
    if owner == (pid or os.getpid()):
        return mtime < started
    return not alive(owner)


def sweep_orphans(root: Path | None = None) -> list[Path]:
    """Remove the scratch folders under ``root`` (the temporary folder) whose process is gone."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if folder.is_dir() and orphaned(folder.name, folder.stat().st_mtime):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:
            continue  # gone meanwhile, or not ours to read
    if removed:
        log.info("removed %d scratch folder(s) left by processes that were killed", len(removed))
    return removed
