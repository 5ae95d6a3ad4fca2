"""This code's pipeline against an earlier commit's, and raw Piper, over the same book, side by side.

    .venv/bin/python -m bench.against REVISION [CHAPTERS] [ROUNDS]

Alice (all 10 chapters unless CHAPTERS is given), 2 workers. Each round runs, one after the
other (every second round in reverse order): raw Piper with 2 threads over this code's
segments, the floor (2 raw processes of 1 thread), the pipeline of REVISION (from a temporary
git worktree of it) and this code's pipeline, each in a process of its own whose imports come
from its tree. It prints each run, then the ratios of the medians.
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def measure(kind: str, book: Path) -> dict[str, Any]:
    """One measurement with the code on the import path (``--one``: run inside a tree)."""
    if kind == "raw":
        from bench.common import raw_engine_seconds

        wall, audio, segments = raw_engine_seconds(book, threads=2)
        return {"wall": wall, "audio": audio, "segments": segments}
    if kind == "floor":
        from bench.common import raw_engine_processes

        return {"wall": raw_engine_processes(book, 2)}
    from bench.common import Stack, temp_folder

    # an older Stack has no preload: its workers load the voice on the first segment, as they did
    extra = {"preload": ("piper",)} if "preload" in inspect.signature(Stack.__init__).parameters else {}
    with Stack(temp_folder("pipeline"), workers=2, threads=1, **extra) as stack:  # type: ignore[arg-type]
        before = stack.cpu_seconds()
        run = stack.convert(book)
        after = stack.cpu_seconds()
    return {"wall": run.wall_s, "parsed": run.parsed_s, "last": run.last_segment_s, "segments": run.segments,
            "cpu": {name: round(after[name] - before.get(name, 0.0), 1) for name in after}}


def _in_tree(tree: Path, kind: str, book: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", kind, str(book)], cwd=tree,
                          env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{kind} in {tree} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def main() -> None:
    from bench.common import BOOKS, banner, subset_book, temp_folder

    revision = sys.argv[1]
    chapters = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    book = subset_book(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", chapters, temp_folder("against"))
    old = Path(tempfile.mkdtemp(prefix="bench-against-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), revision], cwd=ROOT, check=True,
                   capture_output=True)
    order = [("raw", ROOT), ("floor", ROOT), (revision, old), ("this code", ROOT)]
    walls: dict[str, list[float]] = {name: [] for name, _ in order}
    try:
        for number in range(rounds):
            banner(f"round {number + 1}")
            for name, tree in order if number % 2 == 0 else order[::-1]:
                kind = name if name in ("raw", "floor") else "pipeline"
                result = _in_tree(tree, kind, book)
                walls[name].append(result["wall"])
                print(f"{name}: {json.dumps(result)}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    raw, floor, then, now = (statistics.median(walls[name]) for name, _ in order)
    banner(f"medians of {rounds} round(s): raw {raw:.1f} s, floor {floor:.1f} s, {revision} {then:.1f} s, "
           f"this code {now:.1f} s")
    print(f"this code / raw Piper 2 threads: {now / raw:.3f}x; {revision} / raw: {then / raw:.3f}x; "
          f"floor / raw: {floor / raw:.3f}x")
    print(f"this code / {revision}: {now / then:.3f}x; this code / floor: {now / floor:.3f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))), flush=True)
    else:
        main()
