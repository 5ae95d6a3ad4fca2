"""The ``convert.request`` command: validation and the ids derived from it (pure)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from events.audio import MAX_PAUSE_MS, Pauses
from events.checking import USAGE, check_policy
from events.errors import PermanentError
from events.names import owned, speaker_object
from events.projection import FINAL, RUNNING, JobState, JobStatus
from events.types import MAX_RETAKES

MAX_REQUEST_BYTES = 64 * 1024
_FIELDS = {"source", "engine", "voice", "language", "speaker", "chapters", "speed", "request_id", "pauses", "lexicon",
           "check", "retake", "read_along", "priority"}
PRIORITIES = ("background", "normal", "urgent")  # a job's share of the fleet, lowest first (parse.decide)
MAX_LEXICON_CHARS = 32 * 1024
MIN_SPEED, MAX_SPEED = 0.25, 4.0  # times the voice's own pace
_SOURCE_FIELDS = {"object", "path"}
JOB_FORMAT_VERSION = 3  # bump when parsing/segmenting changes what a job produces (3: content-defined segments)
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}$")  # BCP 47, as far as we need it


class RequestError(PermanentError):
    """A convert request that cannot be accepted; the message says why, for a person."""


@dataclass(frozen=True)
class ConvertRequest:
    """A validated conversion request. Exactly one of ``source_object``/``source_path``."""

    source_object: str | None = None
    source_path: str | None = None
    engine: str | None = None
    voice: str | None = None
    language: str | None = None  # read the book as this language; None: the book's own
    speaker_object: str | None = None  # a reference recording in the uploads store, for a cloning voice
    chapters: str | None = None  # the chapters to read, "1-5,8" (1-based, normalized); None: all
    speed: float = 1.0
    request_id: str | None = None
    pauses: str | None = None  # the pauses that differ from the defaults, "sentence=300,chapter=2500"
    lexicon: str | None = None  # the reader's pronunciations, the text of a lexicon file
    check: str | None = None  # segments a check worker hears ("all", "off", "sample:0.1"); None: the stack's default
    retake: tuple[tuple[int, int], ...] = ()  # (chapter, index), zero-based: new takes of a finished book's segments
    read_along: bool = False  # also an EPUB 3 of the book's text with Media Overlays (a job of its own)
    priority: str | None = None  # "urgent", "normal" or "background" (PRIORITIES); None: normal

    def as_dict(self) -> dict[str, Any]:
        source = {"object": self.source_object} if self.source_object else {"path": self.source_path}
        out: dict[str, Any] = {"source": source, "speed": self.speed}
        for key in ("engine", "voice", "language", "chapters", "request_id", "pauses", "lexicon", "check", "priority"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.speaker_object is not None:
            out["speaker"] = {"object": self.speaker_object}
        if self.retake:
            out["retake"] = [list(position) for position in self.retake]
        if self.read_along:
            out["read_along"] = True
        return out

    def encode(self) -> bytes:
        return orjson.dumps(self.as_dict())


MAX_FIELD_CHARS = {"engine": 64, "language": 35, "speaker": 1024, "chapters": 200, "voice": 200, "request_id": 200,
                   "path": 1024, "object": 1024}


def _opt_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f'"{key}" must be a non-empty string')
    if len(value) > MAX_FIELD_CHARS[key]:
        raise RequestError(f'"{key}" is {len(value)} characters long; the limit is {MAX_FIELD_CHARS[key]}')
    return value.strip()


def _language(payload: dict[str, Any]) -> str | None:
    language = _opt_str(payload, "language")
    if language is not None and not LANGUAGE_TAG.match(language):
        raise RequestError(f'"language" must be a language tag such as "fr" or "de-AT", not {language!r}')
    return language


def _speaker(payload: dict[str, Any]) -> str | None:
    speaker = payload.get("speaker")
    if speaker is None:
        return None
    if isinstance(speaker, dict) and set(speaker) == {"object"}:
        speaker = speaker["object"]
    if not isinstance(speaker, str) or not speaker.strip():
        raise RequestError('"speaker" must be {"object": NAME}: a reference recording (WAV) in the uploads store')
    if len(speaker) > MAX_FIELD_CHARS["speaker"]:
        raise RequestError(f'"speaker" is {len(speaker)} characters long; the limit is {MAX_FIELD_CHARS["speaker"]}')
    return speaker.strip()


def chapter_numbers(spec: str) -> list[int]:
    """The 1-based chapter numbers a selection like ``1-5,8`` names, ascending, each once."""
    numbers: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or not first.isascii() or not last.isascii():
            raise RequestError(f'"chapters" must look like "1-5,8" (chapter numbers and ranges), not {spec!r}')
        low, high = int(first), int(last) if dash else int(first)
        if low < 1 or high < low or high > 100_000:
            raise RequestError(f'"chapters": {part!r} is not a range of chapter numbers from 1')
        numbers.update(range(low, high + 1))
    return sorted(numbers)


def chapter_spec(numbers: list[int]) -> str:
    """The shortest selection naming ``numbers``: ``[1, 2, 3, 5]`` is ``1-3,5``."""
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _chapters(payload: dict[str, Any]) -> str | None:
    spec = _opt_str(payload, "chapters")
    return None if spec is None else chapter_spec(chapter_numbers(spec))


def _pauses(payload: dict[str, Any]) -> str | None:
    """``{"sentence": 300, "chapter": 2500}`` or ``"sentence=300,chapter=2500"``, as the spec of what differs."""
    value = payload.get("pauses")
    if value is None:
        return None
    if isinstance(value, dict):
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value.values()):
            raise RequestError(f'"pauses" must map a kind of pause to whole milliseconds from 0 to {MAX_PAUSE_MS}, '
                               'e.g. {"chapter": 2500}')
        value = ",".join(f"{k}={v}" for k, v in value.items())
    if not isinstance(value, str) or len(value) > 200:
        raise RequestError('"pauses" must be {"sentence": MS, "paragraph": MS, "chapter": MS, "heading": MS} '
                           '(any of them)')
    try:
        return Pauses.from_spec(value).spec() or None
    except ValueError as exc:
        raise RequestError(f'"pauses": {exc}') from None


def _lexicon(payload: dict[str, Any]) -> str | None:
    value = payload.get("lexicon")
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError('"lexicon" must be the text of a lexicon file ("word = spoken form" lines)')
    if len(value) > MAX_LEXICON_CHARS:
        raise RequestError(f'"lexicon" is {len(value):,} characters long; the limit is {MAX_LEXICON_CHARS:,}')
    return value if value.strip() else None


def _check(payload: dict[str, Any]) -> str | None:
    value = payload.get("check")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise RequestError(f'"check"{USAGE.removeprefix("check")}')
    try:
        return check_policy(value)
    except ValueError as exc:
        raise RequestError(f'"check"{str(exc).removeprefix("check")}') from None


MAX_RETAKE_POSITIONS = 100  # segments one request may ask new takes of
_RETAKE_USAGE = ('"retake" must be a list of [chapter, index] pairs, zero-based as in the events (what '
                 '`audiobook check` shows as 3.12 is [2, 11])')


def _retake(payload: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """The positions a request asks new takes of, in reading order, each once."""
    value = payload.get("retake")
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise RequestError(_RETAKE_USAGE)
    if len(value) > MAX_RETAKE_POSITIONS:
        raise RequestError(f'"retake" names {len(value)} segments; the limit is {MAX_RETAKE_POSITIONS} a request')
    positions = set()
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10_000_000 for n in item)):
            raise RequestError(_RETAKE_USAGE)
        positions.add((item[0], item[1]))
    return tuple(sorted(positions))


def retake_refusal(state: JobState, positions: tuple[tuple[int, int], ...]) -> str:
    """Why new takes of ``positions`` cannot be asked of this job ("" when they can): only a
    completed book's segments are retaken, and only segments it has."""
    if state.status != JobStatus.COMPLETED:
        return (f"job {state.job_id} is {state.status or 'unknown'}: only a completed book's segments can be retaken"
                + (" (wait until it completes)" if state.status in RUNNING else ""))
    for chapter, index in positions:
        if chapter >= len(state.chapters):
            return f"the book has {len(state.chapters)} chapters: there is no segment {chapter + 1}.{index + 1}"
        if index >= state.chapters[chapter].total:
            return (f"chapter {chapter + 1} has {state.chapters[chapter].total} segments: there is no segment "
                    f"{chapter + 1}.{index + 1}")
    asked = {(c, i) for c, chapter in enumerate(state.chapters) for i in chapter.asked}
    if len(asked | set(positions)) > MAX_RETAKES:
        return f"a job may have at most {MAX_RETAKES:,} segments retaken; convert the book again instead"
    return ""


def speed_of(value: object) -> float:
    """A speaking speed: a finite number from MIN_SPEED to MAX_SPEED; RequestError naming the range otherwise."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not MIN_SPEED <= value <= MAX_SPEED):
        raise RequestError(f'"speed" must be a number from {MIN_SPEED:g} to {MAX_SPEED:g} (1 is the voice\'s own '
                           f'pace), not {value!r}')
    return float(value)


def _not_json(raw: bytes) -> RequestError:
    """Why a request orjson cannot read is refused. NaN, Infinity and numbers past a double's range
    (``1e400``) are not JSON; the standard library reads them, so the field holding one names
    itself and its range. Such a request is refused all the same."""
    try:
        _request(json.loads(raw.decode("utf-8")))
    except RequestError as exc:
        return exc
    except (ValueError, TypeError, RecursionError):  # not JSON at all, or a string orjson cannot hold
        pass
    return RequestError("request is not valid JSON")


def _decoded(raw: bytes) -> Any:
    """A request's JSON, within the size limit; RequestError saying what is wrong otherwise."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestError(f"request is {len(raw)} bytes; the limit is {MAX_REQUEST_BYTES}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _not_json(raw) from None


def parse_request(raw: bytes) -> ConvertRequest:
    """Validate a raw ``convert.request`` payload; raise RequestError with a clear reason."""
    return _request(_decoded(raw))


def _request(payload: Any) -> ConvertRequest:
    """The request a decoded payload asks for; RequestError with a clear reason."""
    if not isinstance(payload, dict):
        raise RequestError("request must be a JSON object")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    source = payload.get("source")
    if source is None:
        raise RequestError('missing "source": give {"object": NAME} or {"path": PATH}')
    if isinstance(source, str):
        source = {"path": source}
    if not isinstance(source, dict) or len(source) != 1 or not set(source) <= _SOURCE_FIELDS:
        raise RequestError('"source" must be {"object": NAME} or {"path": PATH}')
    (kind, value), = source.items()
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f'"source.{kind}" must be a non-empty string')
    if len(value) > MAX_FIELD_CHARS[kind]:
        raise RequestError(f'"source.{kind}" is {len(value)} characters long; the limit is {MAX_FIELD_CHARS[kind]}')
    speed = speed_of(payload.get("speed", 1.0))
    return ConvertRequest(
        source_object=value if kind == "object" else None,
        source_path=value if kind == "path" else None,
        engine=_opt_str(payload, "engine"),
        voice=_opt_str(payload, "voice"),
        language=_language(payload),
        speaker_object=_speaker(payload),
        chapters=_chapters(payload),
        speed=speed,
        request_id=_opt_str(payload, "request_id"),
        pauses=_pauses(payload),
        lexicon=_lexicon(payload),
        check=_check(payload),
        retake=_retake(payload),
        read_along=_read_along(payload),
        priority=_priority(payload),
    )


def _priority(payload: dict[str, Any]) -> str | None:
    value = payload.get("priority")
    if value is None:
        return None
    if value not in PRIORITIES:
        raise RequestError(f'"priority" must be one of {", ".join(PRIORITIES)}, not {value!r:.40}')
    return str(value)


def priority_refusal(asked: str | None, allowed: str) -> str:
    """Why a request's priority is above what the stack allows ("" when it is not)."""
    if asked is None or PRIORITIES.index(asked) <= PRIORITIES.index(allowed):
        return ""
    return (f'priority "{asked}" is above what this stack allows ("{allowed}", its AUDIOBOOK_MAX_PRIORITY); '
            f'ask for "{allowed}" or lower')


def _read_along(payload: dict[str, Any]) -> bool:
    value = payload.get("read_along", False)
    if not isinstance(value, bool):
        raise RequestError(f'"read_along" must be true or false, not {value!r}'[:200])
    return value


def job_id_for(source_sha256: str, engine: str | None, voice: str | None, speed: float,
               language: str | None = None, speaker_sha256: str | None = None, chapters: str | None = None,
               pauses: str | None = None, lexicon: str | None = None, read_along: bool = False,
               owner: str | None = None) -> str:
    """Deterministic job id: the same book asked for with the same choices is the same job.

    A named user's job is theirs: ``<owner>-j...`` (events.names.owned); the same book asked
    for by two users is two jobs (its audio is made once: the cache is by content).

    It follows what the request names (an unnamed voice is the one the book's language picks;
    a reference recording counts by its content), so a client computes it before the book is
    read, and a resume names the same job.
    """
    key = f"{JOB_FORMAT_VERSION}|{source_sha256}|{engine or ''}|{voice or ''}|{speed:.3f}|{language or ''}"
    if speaker_sha256:
        key += f"|{speaker_sha256}"
    if chapters:
        key += f"|chapters={chapters}"
    if pauses:
        key += f"|pauses={pauses}"
    if lexicon:
        key += f"|lexicon={hashlib.sha256(lexicon.encode()).hexdigest()}"
    if read_along:  # another output (its synthesis comes from the cache)
        key += "|read_along"
    return owned(owner, "j" + hashlib.sha256(key.encode()).hexdigest()[:20])


def request_ref(raw: bytes, owner: str | None = None) -> str:
    """Id for events about a request that never became a job (e.g. invalid JSON), its sender's."""
    return owned(owner, "r" + hashlib.sha256(raw).hexdigest()[:20])


def resume_request(state: JobState, request_id: str | None = None) -> ConvertRequest:
    """The request that continues a job: what it first asked for, from its own (kept) source."""
    return ConvertRequest(
        source_object=state.source_object, engine=state.requested_engine or None,
        voice=state.requested_voice or None, language=state.requested_language or None,
        speaker_object=speaker_object(state.requested_speaker) if state.requested_speaker else None,
        chapters=state.requested_chapters or None, speed=state.speed, request_id=request_id or state.job_id,
        pauses=state.requested_pauses or None, lexicon=state.requested_lexicon or None,
        check=state.requested_check or None, read_along=state.requested_read_along,
        priority=state.requested_priority or None,
    )


@dataclass(frozen=True)
class StopRequest:
    """A named user's ``convert.stop.<user>``: cancel (or pause) one of their own jobs."""

    job_id: str
    pause: bool = False
    reason: str = ""


_STOP_FIELDS = {"job_id", "action", "reason"}


def parse_stop(raw: bytes) -> StopRequest:
    """Validate a stop request, ``{"job_id": ..., "action": "cancel" | "pause", "reason": ...}``."""
    payload = _decoded(raw)
    if not isinstance(payload, dict):
        raise RequestError("a stop request must be a JSON object")
    if unknown := sorted(set(payload) - _STOP_FIELDS):
        raise RequestError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_STOP_FIELDS))}")
    job_id, action, reason = payload.get("job_id"), payload.get("action", "cancel"), payload.get("reason", "")
    if not isinstance(job_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", job_id):
        raise RequestError('"job_id" must be a job id (see `audiobook status`)')
    if action not in ("cancel", "pause"):
        raise RequestError(f'"action" must be "cancel" or "pause", not {str(action)[:50]!r}')
    if not isinstance(reason, str) or len(reason) > 200:
        raise RequestError('"reason" must be a string of at most 200 characters')
    return StopRequest(job_id, action == "pause", reason)


def stop_refusal(state: JobState, pause: bool) -> str:
    """Why a job cannot be stopped now ("" when it can): a finished one is not cancelled, and only a
    running one (accepted or parsed) is paused (pure)."""
    if pause and state.status not in RUNNING:
        return f"job {state.job_id} is {state.status}: only a running job can be paused"
    if state.status in FINAL:
        return f"job {state.job_id} is already {state.status}"
    return ""
