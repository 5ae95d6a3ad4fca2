"""Which segments a check worker hears: the request's ``check`` policy (pure).

``all`` hears every segment, ``off`` none, ``sample:R`` a share R of them (``sample`` alone:
``DEFAULT_SAMPLE``) and, so that every chapter is heard, the second segment of each (the first
after its heading). ``auto`` (the stack's default) is decided by parse when it plans a book:
``all`` if a check worker has a GPU, else ``sample:0.1`` (:func:`automatic`). Which segments a
sample takes is decided by a hash of the job and the segment's position, so a resume or a second
parse picks the same ones.
"""

from __future__ import annotations

import hashlib

ALL, OFF, SAMPLE, AUTO = "all", "off", "sample", "auto"
DEFAULT_SAMPLE = 0.1
DEFAULT_POLICY = f"{SAMPLE}:{DEFAULT_SAMPLE:g}"
USAGE = 'check must be "auto", "all", "off", "sample" or "sample:R" with R from 0 to 1 (e.g. "sample:0.1")'


def check_policy(value: str) -> str:
    """The policy ``value`` names, written one way ("all", "off", "sample:0.25"); ValueError otherwise."""
    text = value.strip().lower()
    if text in (ALL, OFF, AUTO):
        return text
    head, colon, share = text.partition(":")
    if head != SAMPLE:
        raise ValueError(USAGE)
    try:
        rate = float(share) if colon else DEFAULT_SAMPLE
    except ValueError:
        raise ValueError(USAGE) from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(USAGE)
    return ALL if rate == 1.0 else OFF if rate == 0.0 else f"{SAMPLE}:{rate:g}"


def automatic(gpu_check_workers: int) -> str:
    """What ``auto`` means on a stack: every segment heard where a check worker has a GPU (it hears
    faster than voices speak), a sample where they all run on CPUs."""
    return ALL if gpu_check_workers else DEFAULT_POLICY


def share_checked(policy: str) -> float:
    """The share of segments a policy hears (an unknown or empty policy: none)."""
    if policy == ALL:
        return 1.0
    head, _, share = policy.partition(":")
    if head != SAMPLE:
        return 0.0
    try:
        return min(1.0, max(0.0, float(share)))
    except ValueError:
        return 0.0


def is_checked(policy: str, job_id: str, chapter: int, index: int) -> bool:
    """Whether the segment at (chapter, index) of a job is heard under ``policy``."""
    share = share_checked(policy)
    if share >= 1.0 or share <= 0.0:
        return share >= 1.0
    if index == 1:
        return True
    digest = hashlib.sha256(f"{job_id}:{chapter}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64
