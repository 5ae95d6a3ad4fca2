"""Faults we choose, for proving the check: a segment's text or audio spoiled the way generative
voices spoil them (pure). Used by the ``damaged`` test voice and ``bench/check_damage.py``.

- ``drop``: a clause of the text is not said (a run of at least a quarter of its words);
- ``repeat``: a phrase is said twice;
- ``cut``: the audio stops at 60% of its speech (silence after);
- ``other``: another text is said instead (also what ``drop`` and ``repeat`` do to a text of
  fewer than four words: a heading has no clause to drop);
- ``silence``: nothing is said at all.
"""

from __future__ import annotations

import random

KINDS = ("drop", "repeat", "cut", "other", "silence")
TEXT_KINDS = ("drop", "repeat", "other")
CUT_AT = 0.6
OTHER_TEXT = ("The committee met again on Tuesday to discuss the harbour accounts, and nobody "
              "could agree on anything at all.")


def damage_text(paragraphs: list[str], kind: str, rng: random.Random) -> list[str]:
    """The paragraphs as a faulty voice would say them (unchanged for the audio faults)."""
    words = " ".join(paragraphs).split()
    if kind == "other" or (kind in ("drop", "repeat") and len(words) < 4):
        return [OTHER_TEXT]
    if kind not in ("drop", "repeat"):
        return paragraphs
    if kind == "drop":
        run = max(3, len(words) // 4)
        start = rng.randrange(0, len(words) - run + 1)
        return [" ".join(words[:start] + words[start + run:]) or OTHER_TEXT]
    run = min(len(words), rng.randint(4, 6))
    start = rng.randrange(0, len(words) - run + 1)
    return [" ".join(words[:start + run] + words[start:start + run] + words[start + run:])]


def damage_pcm(pcm: bytes, kind: str) -> bytes:
    """16-bit PCM as a faulty voice would end it (unchanged for the text faults)."""
    if kind == "silence":
        return bytes(len(pcm))
    if kind == "cut":
        import numpy as np

        samples = np.frombuffer(pcm, dtype=np.int16)
        sounding = np.flatnonzero(np.abs(samples) > 64)
        end = int(sounding[-1]) + 1 if len(sounding) else len(samples)
        keep = int(end * CUT_AT) * 2
        return pcm[:keep] + bytes(len(pcm) - keep)
    return pcm


def damaged(text: str, share: float, kind: str, take: int = 0) -> str:
    """The fault take ``take`` of a segment of ``text`` gets from a voice damaging ``share`` of its
    segments with ``kind`` ("mixed": a kind per segment); "" for a clean one. Decided by the text
    and the take alone: a retake is damaged again with the same chance, independently."""
    import hashlib

    digest = hashlib.sha256(f"{text}\x00{take}".encode() if take else text.encode()).digest()
    if int.from_bytes(digest[:8], "big") >= share * 2**64:
        return ""
    return KINDS[digest[8] % len(KINDS)] if kind == "mixed" else kind
