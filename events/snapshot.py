"""The KV checkpoint: a job's state and its tracking, serialized together, small and bounded.

The bytes are the same as those of earlier releases (one JSON object, ``v`` 2): the applied
stream sequence is stored as ``applied_seq`` after the state's fields, so a checkpoint written
by an older release loads, and one written now resumes replay where the fold left off.
"""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import accumulate
from typing import Any

import orjson

from events.state import ChapterState, JobState, JobStatus
from events.tracking import Tracked

SNAPSHOT_VERSION = 2
SNAPSHOT_TEXT = 2_000  # characters kept of any one string in a checkpoint
SNAPSHOT_WARNINGS = 5  # warnings kept in a checkpoint (the log holds them all)
SNAPSHOT_REASONS = 20  # failure reasons kept in a checkpoint (the first ones, by position)
_LEFT_OUT = ("chapters", "warnings", "requested_lexicon")
# written only when not these (the checkpoint of an unchecked job keeps its earlier bytes)
_WHEN_SET: dict[str, Any] = {"requested_check": "", "check": "", "heard_language": "", "words_checked": 0,
                              "word_errors": 0, "loudness_range_lu": None, "reopened": 0,
                              "read_along_object": "", "read_along_book": "", "requested_read_along": False,
                              "requested_priority": ""}
SNAPSHOT_ERRORS = (ValueError, KeyError, TypeError, IndexError)  # orjson's decode error is a ValueError
_SEQ = "applied_seq"  # the tracking's key in the checkpoint


def to_snapshot(tracked: Tracked) -> bytes:
    """Serialize a state and its tracking for the KV checkpoint: small and bounded whatever the book.

    The checkpoint holds what the assembler and the workers decide on: counts, per-chapter
    totals and seconds, and which segments are done or failed as two bitmaps over the book's
    segments in order (100,000 segments: 25 KB). Chapter titles, the lexicon and all but a few
    warnings and failure reasons are not in it: they are in the log, which every reader that
    shows them folds (``services.bus.jobs``). A restored state has empty chapter titles.
    """
    state = tracked.state
    data: dict[str, Any] = {k: (v[:SNAPSHOT_TEXT] if isinstance(v, str) else v)
                            for k, v in vars(state).items()
                            if k not in _LEFT_OUT and (k not in _WHEN_SET or v != _WHEN_SET[k])}
    data[_SEQ] = tracked.seq
    starts = _chapter_starts(c.total for c in state.chapters)
    failed = {starts[ci] + si: reason for ci, c in enumerate(state.chapters) for si, reason in c.failed.items()
              if si < c.total}
    flagged = {starts[ci] + si: reason for ci, c in enumerate(state.chapters) for si, reason in c.flagged.items()
               if si < c.total}
    data.update(
        v=SNAPSHOT_VERSION,
        warnings=[w[:SNAPSHOT_TEXT] for w in state.warnings[:SNAPSHOT_WARNINGS]],
        warning_count=len(state.warnings),
        totals=[c.total for c in state.chapters],
        seconds=[round(c.seconds, 3) for c in state.chapters],
        done=_bitmap((starts[ci] + si for ci, c in enumerate(state.chapters) for si in c.done if si < c.total),
                     starts[-1]),
        failed=_bitmap(failed, starts[-1]),
        reasons={str(k): failed[k][:SNAPSHOT_TEXT] for k in sorted(failed)[:SNAPSHOT_REASONS]},
    )
    if any(c.checked for c in state.chapters):  # a job not checked keeps the checkpoint of earlier releases
        data.update(
            checked=_bitmap((starts[ci] + si for ci, c in enumerate(state.chapters) for si in c.checked
                             if si < c.total), starts[-1]),
            flagged=_bitmap(flagged, starts[-1]),
            flag_reasons={str(k): flagged[k][:SNAPSHOT_TEXT] for k in sorted(flagged)[:SNAPSHOT_REASONS]},
        )
    asked = {str(starts[ci] + si): take for ci, c in enumerate(state.chapters) for si, take in c.asked.items()
             if si < c.total}
    if asked:  # a job never retaken keeps the checkpoint of earlier releases
        data["asked"] = asked
    return orjson.dumps(data)


def from_snapshot(data: bytes) -> Tracked:
    """Inverse of :func:`to_snapshot` (titles empty; failures past the kept reasons say "see the log").

    Raises one of ``SNAPSHOT_ERRORS`` for anything else (a checkpoint of another version, garbage).
    """
    raw = orjson.loads(data)
    if raw.pop("v", 1) != SNAPSHOT_VERSION:  # a checkpoint of an older release: rebuilt from the log
        raise ValueError("checkpoint of another version")
    totals, seconds = raw.pop("totals"), raw.pop("seconds")
    starts = _chapter_starts(totals)
    chapters = [ChapterState(title="", total=total, seconds=sec) for total, sec in zip(totals, seconds, strict=True)]
    reasons = {int(k): v for k, v in raw.pop("reasons").items()}
    flag_reasons = {int(k): v for k, v in raw.pop("flag_reasons", {}).items()}
    for kind in ("done", "failed", "checked", "flagged"):
        for position in _positions(raw.pop(kind, "")):
            ci = bisect_right(starts, position) - 1
            chapter, index = chapters[ci], position - starts[ci]
            if kind == "done":
                chapter.done.add(index)
            elif kind == "checked":
                chapter.checked.add(index)
            elif kind == "flagged":
                chapter.flagged[index] = flag_reasons.get(position, "(the reason is in the job's log)")
            else:
                chapter.failed[index] = reasons.get(position, "(the reason is in the job's log)")
    for key, take in raw.pop("asked", {}).items():
        position = int(key)
        ci = bisect_right(starts, position) - 1
        chapters[ci].asked[position - starts[ci]] = int(take)
    raw.pop("warning_count", None)
    raw["warnings"] = tuple(raw.get("warnings", ()))
    seq = raw.pop(_SEQ, 0)
    if "status" in raw:
        raw["status"] = JobStatus(raw["status"])
    return Tracked(replace(JobState(job_id=raw.pop("job_id")), chapters=chapters, **raw), seq)


def _chapter_starts(totals: Iterable[int]) -> list[int]:
    """Each chapter's first position among the book's segments (from the chapters' totals), then the total."""
    return list(accumulate(totals, initial=0))


def _bitmap(positions: Iterable[int], size: int) -> str:
    bits = bytearray((size + 7) // 8)
    for position in positions:
        bits[position >> 3] |= 1 << (position & 7)
    return base64.b64encode(bytes(bits)).decode("ascii")


def _positions(bitmap: str) -> Iterator[int]:
    for byte_index, byte in enumerate(base64.b64decode(bitmap)):
        if byte:
            for bit in range(8):
                if byte >> bit & 1:
                    yield byte_index * 8 + bit
