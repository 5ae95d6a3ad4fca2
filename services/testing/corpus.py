"""The corpus: real books by other hands, listed in ``tests/corpus/manifest.json`` of a checkout.

The books themselves live outside the repository: in ``../shared/`` (``testbooks/``,
``corpus/``) or in the folder ``AUDIOBOOK_CORPUS_DIR`` names (docs/books.md). The corpus test
and ``bench/real_books.py`` both find them here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parents[2]
MANIFEST = CHECKOUT / "tests" / "corpus" / "manifest.json"
SHARED = CHECKOUT.parent / "shared"
BOOKS: list[dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))["books"]


def locate(entry: dict[str, Any]) -> Path | None:
    """Where the book is on this machine: ``AUDIOBOOK_CORPUS_DIR``, else ``../shared``; None if absent."""
    found = []
    if os.environ.get("AUDIOBOOK_CORPUS_DIR"):
        found.append(Path(os.environ["AUDIOBOOK_CORPUS_DIR"]) / Path(entry["path"]).name)
    found.append(SHARED / entry["path"])
    return next((path for path in found if path.is_file()), None)
