"""Work for the limited child in tests (a light module: the child imports it, and only the readers).

The child's memory limit is its whole address space, so what it imports counts: a test module
importing the whole stack would leave a small limit no room at all.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from services.parse.book import EbookError
from services.parse.formats import read_book
from services.parse.limits import BookLimits, BookTooBig


def measured_read(path: Path) -> tuple[str, int]:
    """In the child: read the book; what came of it, and the child's peak memory (bytes)."""
    try:
        book = read_book(path, BookLimits(), path.name)
        outcome = f"read: {sum(len(p) for c in book.chapters for p in c.paragraphs):,} characters"
    except MemoryError:
        outcome = "refused: out of memory"
    except EbookError as exc:
        outcome = f"refused: {exc}"
    return outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 2**20))


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def refuse(reason: str) -> None:
    raise BookTooBig(reason)


def double(n: int) -> int:
    return 2 * n
