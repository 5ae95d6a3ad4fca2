"""Benchmark: the Coqui engine on a GPU: VITS batched against one sentence at a time, and XTTS.

    .venv/bin/python bench/coqui_engine.py [DEVICE]      # DEVICE: cuda (default when there is one), cuda:1, cpu

Skipped (exit 0, one line) when no CUDA GPU is there and no device is named. The models are
random-weight ones built here (no weights can be downloaded): a VITS with Coqui's default
(full) dimensions, the tiny test VITS, and the tiny test XTTS; they speak noise of realistic
length, so the figures are compute throughput, not voice quality. Every figure is measured in
this run over the same sentences (from Alice); ratios compare paths on the same model.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import BOOKS, banner, temp_folder
from services.engines.coqui import coqui_voices
from services.engines.coqui_model import CoquiSynthesizer as CoquiEngine
from services.engines.espeak import espeak_program
from services.parse.readers.epub import read_epub
from services.testing.coqui_models import build_tiny_vits, build_tiny_xtts

SENTENCES = {"cuda": 96, "cpu": 16}  # sentences per model; a full-size VITS on a CPU is ~0.6x real time


def sentences(engine: CoquiEngine) -> list[str]:
    wanted = SENTENCES["cuda" if engine.device.startswith("cuda") else "cpu"]
    book = read_epub(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub")
    found: list[str] = []
    for chapter in book.chapters[1:]:
        for paragraph in chapter.paragraphs:
            found.extend(s for s in engine.synthesizer.split_into_sentences(paragraph) if 20 < len(s) < 250)
            if len(found) >= wanted:
                return found[:wanted]
    return found


def timed(run, device: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(wall seconds, audio seconds) of ``run()``, synchronizing the GPU around it."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    pcm = run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, pcm


def vits(name: str, voice_dir: Path, device: str) -> None:
    engine = CoquiEngine(coqui_voices([voice_dir])[name], threads=2, device=device)
    texts = sentences(engine)
    engine._batch(texts[:4], 1.0)  # warm up (kernels, allocator)
    rate = engine.sample_rate
    wall_one, pcm = timed(lambda: [engine._batch([t], 1.0)[0] for t in texts], device)
    audio = sum(len(p) for p in pcm) / 2 / rate
    print(f"{name}: {len(texts)} sentences, {audio:.0f} s of audio at {rate} Hz")
    print(f"  one at a time:    {wall_one:7.2f} s  {len(texts) / wall_one:7.1f} sentences/s  "
          f"{audio / wall_one:8.1f}x real time")
    for size in (4, 8, 16, 32) if device.startswith("cuda") else (4, 8, 16):
        wall, pcm = timed(lambda size=size: [p for i in range(0, len(texts), size)
                                             for p in engine._batch(texts[i:i + size], 1.0)], device)
        batched_audio = sum(len(p) for p in pcm) / 2 / rate
        print(f"  batches of {size:2}:    {wall:7.2f} s  {len(texts) / wall:7.1f} sentences/s  "
              f"{batched_audio / wall:8.1f}x real time  ({wall_one / wall:.1f}x one at a time)")


def xtts(voice_dir: Path, device: str) -> None:
    engine = CoquiEngine(coqui_voices([voice_dir])["tiny-xtts/reader"], threads=2, device=device)
    texts = sentences(engine)[:8]
    engine.speak(texts[:1], 1.0, "en")
    wall, spoken = timed(lambda: engine.speak(texts, 1.0, "en"), device)
    audio = sum(len(c) for p in spoken for c in p) / 2 / engine.sample_rate
    print(f"tiny XTTS (cloning): {len(texts)} sentences in {wall:.2f} s, {len(texts) / wall:.1f} sentences/s, "
          f"{audio / wall:.1f}x real time")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    import torch

    device = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "")
    if not device:
        print("no CUDA GPU here: skipped (name a device, e.g. `cpu`, to measure anyway)")
        return
    folder = temp_folder("coqui-bench")
    banner(f"device: {device} ({torch.cuda.get_device_name(device) if device.startswith('cuda') else 'CPU'}), "
           f"torch {torch.__version__}")
    build_tiny_vits(folder / "vits-full-size", full_size=True)
    build_tiny_vits(folder / "vits-tiny")
    reference = folder / "reference.wav"
    subprocess.run([espeak_program() or "espeak-ng", "-w", str(reference), "The voice to clone, for a while."],
                   check=True)
    build_tiny_xtts(folder / "tiny-xtts", reference)
    vits("vits-full-size", folder, device)
    vits("vits-tiny", folder, device)
    xtts(folder, device)


if __name__ == "__main__":
    main()
