"""Benchmark: what a segment's AAC encoding costs, with its trailing pause copied as silent
frames (``to_aac``) against encoding every sample (what workers did before), on the same PCM.

    .venv/bin/python -m bench.encoding [SEGMENTS]

Piper (the default voice) speaks the first SEGMENTS segments of Frankenstein (default 40),
rendered as a worker renders them (pauses between sentences and paragraphs, the pause after
the segment, levelling). Each is encoded both ways, several times, and the decoded audio of
the two is compared. The instant test engine's segments (silence of the `short` voice's
length, 2.1 s on average in the ceiling benchmark's book) are timed the same way.
"""

from __future__ import annotations

import io
import sys
import time

import av
import numpy as np

from bench.common import BOOKS, banner
from events.audio import AAC_FRAME
from events.types import SynthesizeSegment
from services.parse.formats import read_book
from services.parse.segmenter import segment_chapter
from services.tts.engines import load_engine
from services.tts.render import encode_adts, render_segments, to_aac
from services.voices import resolve_voice

REPEAT = 5


def encode_everything(pcm: bytes, rate: int) -> bytes:
    """The encoding before this change: every sample, the trailing pause included."""
    samples = np.frombuffer(pcm, dtype=np.int16)[: max(1, len(pcm) // 2 - AAC_FRAME)]
    return encode_adts(np.concatenate([samples, np.zeros(-len(samples) % AAC_FRAME, dtype=np.int16)]), rate)


def decoded(aac: bytes) -> np.ndarray:
    with av.open(io.BytesIO(aac), format="adts") as container:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])


def timed(encode, pcms: list[bytes], rate: int) -> tuple[float, list[bytes]]:  # type: ignore[no-untyped-def]
    out = [encode(pcm, rate) for pcm in pcms]  # warm
    started = time.perf_counter()
    for _ in range(REPEAT):
        out = [encode(pcm, rate) for pcm in pcms]
    return (time.perf_counter() - started) / REPEAT, out


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    info = resolve_voice("piper", "en_US-joe-medium")
    engine = load_engine(info)
    chapters = read_book(BOOKS / "epub" / "pg84_frankenstein_epub2-ncx.epub").chapters
    segments = [s for c in chapters for s in segment_chapter(c.paragraphs, "en", 400, title=c.title)][:count]
    jobs = [SynthesizeSegment(job_id="bench", chapter=0, index=i, paragraphs=s.paragraphs, engine="piper",
                              voice=info.voice, speed=1.0, cache_key=f"k{i}", pause_after_ms=s.pause_after_ms)
            for i, s in enumerate(segments)]
    started = time.perf_counter()
    pcms = render_segments(engine, jobs)
    model = time.perf_counter() - started
    rate = engine.sample_rate
    audio = sum(len(p) for p in pcms) / 2 / rate
    old_s, old = timed(encode_everything, pcms, rate)
    new_s, new = timed(lambda pcm, r: to_aac(pcm, r)[0], pcms, rate)
    same = sum(np.array_equal(decoded(a), decoded(b)) for a, b in zip(old, new, strict=True))
    banner(f"Piper: {len(pcms)} segments, {audio:.0f} s of audio (model {model:.1f} s)")
    print(f"encode every sample:       {old_s * 1000:7.1f} ms  ({old_s / len(pcms) * 1000:.2f} ms a segment, "
          f"{old_s / model:.1%} of the model's time)")
    print(f"pause copied (to_aac):     {new_s * 1000:7.1f} ms  ({new_s / len(pcms) * 1000:.2f} ms a segment, "
          f"{new_s / model:.1%} of the model's time)")
    print(f"ratio: {old_s / new_s:.2f}x faster; bytes {sum(map(len, old))} -> {sum(map(len, new))}; "
          f"decoded identical: {same} of {len(pcms)}")
    silent = [bytes(2 * int(2.1 * rate)) for _ in range(40)]
    old_s, _ = timed(encode_everything, silent, rate)
    new_s, _ = timed(lambda pcm, r: to_aac(pcm, r)[0], silent, rate)
    banner("instant engine: 40 segments of 2.1 s of silence")
    print(f"encode every sample: {old_s / 40 * 1000:.3f} ms a segment; copied: {new_s / 40 * 1000:.3f} ms a segment "
          f"({old_s / new_s:.0f}x)")


if __name__ == "__main__":
    main()
