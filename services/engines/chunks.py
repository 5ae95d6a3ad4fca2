"""Split text for engines with a per-call limit (XTTS: about 250 characters), never truncating (pure).

A sentence longer than the limit is cut at clause punctuation, then between words; only a
single word longer than the limit is cut inside (nothing is ever dropped).
"""

from __future__ import annotations

import re

_CLAUSE = re.compile(r"(?<=[,;:—–)\]»])\s+")
_WORD = re.compile(r"\s+")


def _pack(pieces: list[str], limit: int) -> list[str]:
    """Greedily join consecutive pieces with a space while they fit in ``limit``."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= limit:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def fit(text: str, limit: int) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters, cut at the gentlest boundary available."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return [text] if text else []
    out: list[str] = []
    for clause in _pack(_CLAUSE.split(text), limit):
        if len(clause) <= limit:
            out.append(clause)
            continue
        for words in _pack(_WORD.split(clause), limit):
            out.extend(words[start:start + limit] for start in range(0, len(words), limit))
    return _pack(out, limit)
