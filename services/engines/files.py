"""Content hashes of model files: a voice's version changes exactly when its files do."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=32)
def _file_version(path: str, size: int, mtime: float) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def file_version(path: Path) -> str:
    """Content hash of a model file, computed once per process per (size, mtime)."""
    stat = path.stat()
    return _file_version(str(path), stat.st_size, stat.st_mtime)
