"""Fetch a request's reference recording (for a cloning voice), check it, keep it by content.

The recording is a WAV in the clients' ``uploads`` store. It is checked (a readable WAV of 2 s
to 2 minutes, at most 20 MB) and copied to the services' store as ``speakers/<sha256>.wav``,
where every tts worker finds it: the job's voice is then ``MODEL/@<sha256>``. Its size is the
bytes downloaded and its length the sample frames decoded: what the object's description and
the WAV header claim are the client's words, good only to refuse a recording early.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from services.bus.ephemeral import ObjectTooBig, download_object
from services.bus.uploads import sha256_file
from services.parse.source import human_size, locate_object
from services.scratch import scratch_folder

MAX_SPEAKER_BYTES = 20 * 10**6
MIN_SPEAKER_S, MAX_SPEAKER_S = 2.0, 120.0
READ_FRAMES = 1 << 16  # sample frames decoded at a time


class SpeakerError(PermanentError):
    """The reference recording cannot be used; the message says why, for a person."""


def _check_length(seconds: float, channels: int) -> None:
    if channels not in (1, 2) or not MIN_SPEAKER_S <= seconds <= MAX_SPEAKER_S:
        raise SpeakerError(f"the reference recording must be mono or stereo speech of {MIN_SPEAKER_S:g} s to "
                           f"{MAX_SPEAKER_S / 60:g} minutes; it is {seconds:.1f} s with {channels} channel(s)")


def _decode(audio: wave.Wave_read) -> tuple[int, bool]:
    """The sample frames the file really holds (at most one past MAX_SPEAKER_S), and whether any is
    not silence (zero; 128 for 8-bit WAV, which is unsigned)."""
    silence = b"\x80" if audio.getsampwidth() == 1 else b"\x00"
    limit = int(MAX_SPEAKER_S * audio.getframerate()) + 1
    frame_bytes = audio.getsampwidth() * audio.getnchannels()
    frames, sound = 0, False
    while frames < limit and (data := audio.readframes(min(READ_FRAMES, limit - frames))):
        frames += len(data) // frame_bytes
        sound = sound or bool(data.strip(silence))
    return frames, sound


def check_recording(path: Path) -> float:
    """The recording's length in seconds, decoded, if it is a WAV a cloning model can listen to.

    The header's length is checked first (a quick refusal), then the sample frames are read: a
    file that holds fewer than its header says, or only silence, is refused.
    """
    try:
        with wave.open(str(path), "rb") as audio:
            claimed, rate, channels = audio.getnframes(), audio.getframerate(), audio.getnchannels()
            _check_length(claimed / rate if rate else 0.0, channels)
            frames, sound = _decode(audio)
    except (wave.Error, EOFError, OSError) as exc:
        raise SpeakerError(f"the reference recording is not a readable WAV file ({exc})") from None
    if frames < claimed:
        raise SpeakerError(f"the reference recording is cut short: its header says {claimed / rate:.1f} s, "
                           f"its samples last {frames / rate:.1f} s")
    seconds = frames / rate
    _check_length(seconds, channels)
    if not sound:
        raise SpeakerError(f"the reference recording is silence: its {seconds:.1f} s hold no sound to learn a "
                           "voice from")
    return seconds


def too_big(shown: str) -> SpeakerError:
    return SpeakerError(f"the reference recording is {shown}; the limit is {human_size(MAX_SPEAKER_BYTES)} "
                        "(a minute of speech is plenty)")


async def _locate(name: str, uploads: ObjectStore, kept: list[ObjectStore]) -> tuple[ObjectStore, int]:
    """The clients' uploads, or a recording kept for an earlier job (``speakers/<sha256>.wav``: resume)."""
    found = await locate_object(name, [uploads, *kept] if name.startswith(names.SPEAKERS_PREFIX) else [uploads])
    if found is None:
        raise SpeakerError(f"reference recording {name!r} is not in the object store {names.UPLOADS_BUCKET!r}")
    return found


async def fetch_speaker(name: str, uploads: ObjectStore, store: ObjectStore, earlier: ObjectStore | None = None) -> str:
    """Check the uploaded recording ``name`` and keep it as ``speakers/<sha256>.wav`` in ``store`` (the
    audio bucket, where workers read it); its sha256. ``earlier``: where recordings were kept before."""
    source, size = await _locate(name, uploads, [store, *([earlier] if earlier else [])])
    if size > MAX_SPEAKER_BYTES:
        raise too_big(human_size(size))
    with scratch_folder("speaker") as tmp:
        path = Path(tmp) / "speaker.wav"
        try:
            with open(path, "wb") as handle:
                await download_object(source, name, handle, MAX_SPEAKER_BYTES)
        except ObjectTooBig:
            raise too_big(f"more than {human_size(MAX_SPEAKER_BYTES)}") from None
        await asyncio.to_thread(check_recording, path)
        sha = await asyncio.to_thread(sha256_file, path)
        kept = names.speaker_object(sha)
        try:
            await store.get_info(kept)
        except ObjectNotFoundError:
            await store.put(kept, io.BytesIO(path.read_bytes()))
    return sha
