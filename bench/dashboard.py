"""Benchmark: the dashboard at fleet size, live. A real pipeline with WORKERS tts processes (the
instant test engine) converts a ~6,000-segment book while the real dashboard (headless, Pilot)
watches it; every number is measured in this one run and printed, never asserted.

    .venv/bin/python -m bench.dashboard [WORKERS] [SEGMENT_CHARS]

Printed: how long each tick's table refresh and each control-plane poll took (mean, p95, max),
the event loop's lag (how late a 50 ms timer fires: what a key press waits), the cost of folding
one event, and how far behind the log the dashboard was when the book completed.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats

import tui.app
from bench.common import BOOKS, PipelineRun, Stack, banner, temp_folder, write_book
from services.parse.readers.epub import read_epub
from tui.app import Dashboard


def fleet_book(folder: Path) -> tuple[Path, int]:
    """Four public-domain books as one (about 220,000 words: over 6,000 segments)."""
    chapters = [(c.title, c.paragraphs)
                for name in ("pg84_frankenstein_epub2-ncx.epub", "pg22367_die-verwandlung_de.epub",
                             "alice_epub3-nav-only_epubjs.epub", "pg14155_madame-bovary_fr.epub")
                for c in read_epub(BOOKS / "epub" / name).chapters]
    words = sum(len(p.split()) for _, paragraphs in chapters for p in paragraphs)
    return write_book(folder / "four-books.epub", "bench-fleet", "Four books", "en", "", chapters), words


def summary(samples: list[float]) -> str:
    """mean / p95 / max in milliseconds."""
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"mean {1000 * statistics.fmean(samples):.1f} ms, p95 {1000 * p95:.1f} ms, max {1000 * ordered[-1]:.1f} ms"


def timed(samples: list[float], cpu: list[float], method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tick method (sync or async) to record how long each call took: wall, and this thread's CPU
    (for an async one, the CPU of everything the loop ran meanwhile)."""
    if asyncio.iscoroutinefunction(method):
        async def run_async() -> None:
            started, used = time.perf_counter(), time.thread_time()
            await method()
            samples.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - used)
        return run_async

    def run(*args: Any) -> None:
        started, used = time.perf_counter(), time.thread_time()
        method(*args)
        samples.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - used)
    return run


async def lag_probe(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append(time.perf_counter() - started - 0.05)


def timed_call(samples: list[float], call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - started)
    return run


async def watch(url: str, finished: threading.Event, result: dict[str, Any]) -> None:
    app = Dashboard(lambda: nats.connect(url), tick=1.0)
    result["fleet"], result["depths"] = [], []
    tui.app.fleet_status = timed_call(result["fleet"], tui.app.fleet_status)  # type: ignore[assignment]
    tui.app.queue_depths = timed_call(result["depths"], tui.app.queue_depths)  # type: ignore[assignment]
    refreshes: list[float] = []
    applies: list[float] = []
    refresh_cpu: list[float] = []
    poll_cpu: list[float] = []
    app.refresh_jobs = timed(refreshes, refresh_cpu, app.refresh_jobs)  # type: ignore[method-assign]
    app.show_workers = timed([], poll_cpu, app.show_workers)  # type: ignore[method-assign, assignment]
    board_apply: Callable[..., None] = app.board.apply

    def apply(*args: Any) -> None:
        used = time.thread_time()
        board_apply(*args)
        applies.append(time.thread_time() - used)

    app.board.apply = apply  # type: ignore[method-assign, assignment]
    lags: list[float] = []
    stop = asyncio.Event()
    cpu, wall = time.process_time(), time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        probe = asyncio.create_task(lag_probe(lags, stop))
        keys = iter(["2", "1", "down", "up", "3", "1"] * 1000)
        while not finished.is_set():  # a person pressing a key every 2 s meanwhile
            await pilot.press(next(keys))
            await pilot.pause(2.0)
        completed_at = time.time()
        while not any(s.status == "completed" for s in app.board.jobs.values()):
            await pilot.pause(0.05)
        result["behind_s"] = time.time() - completed_at
        stop.set()
        await probe
        result["workers_shown"] = sum(1 for _, status in app.instances.values() if status.get("role") == "tts")
        result["cpu_s"], result["wall_s"] = time.process_time() - cpu, time.perf_counter() - wall
    result.update(refreshes=refreshes, applies=applies, lags=lags, refresh_cpu=refresh_cpu,
                  poll_cpu=poll_cpu)


async def reopen(url: str) -> tuple[float, list[float]]:
    """A fresh dashboard on the finished log, the machine idle: seconds until the whole history is
    folded and shown, and the event loop's lag meanwhile."""
    app = Dashboard(lambda: nats.connect(url), tick=0.25)
    lags: list[float] = []
    stop = asyncio.Event()
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        probe = asyncio.create_task(lag_probe(lags, stop))
        table = app.query_one("#job-table")
        while not any(str(c) == "completed" for key in table.rows  # type: ignore[attr-defined]
                      for c in table.get_row(key)):  # type: ignore[attr-defined]
            await pilot.pause(0.02)
        shown = time.perf_counter() - started
        stop.set()
        await probe
    return shown, lags


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    chars = sys.argv[2] if len(sys.argv) > 2 else "200"
    folder = temp_folder("dashboard")
    book, words = fleet_book(folder)
    banner(f"dashboard: {workers} tts worker processes, a {words}-word book cut at {chars} characters, "
           "instant engine (voice 'short')")
    env = {"AUDIOBOOK_MAX_SEGMENT_CHARS": chars, "AUDIOBOOK_ENGINES": "test"}
    with Stack(temp_folder("dashboard-stack"), workers=workers, threads=1, env=env) as stack:
        finished, result = threading.Event(), dict[str, Any]()
        runs: list[PipelineRun] = []

        def convert() -> None:
            try:
                runs.append(stack.convert(book, engine="test", voice="short"))
            finally:
                finished.set()

        converting = threading.Thread(target=convert)
        converting.start()
        asyncio.run(watch(stack.url, finished, result))
        converting.join()
        for name in list(stack.procs):  # the workers and services stop: only the server and the dashboard
            if name.startswith("w"):
                stack.procs[name].terminate()
        time.sleep(2.0)
        shown, reopen_lags = asyncio.run(reopen(stack.url))
    run = runs[0]
    print(f"book: {run.segments} segments, {run.audio_s / 3600:.1f} h of audio, converted in {run.wall_s:.1f} s "
          f"({run.segments / run.last_segment_s:.0f} segments/s)")
    print(f"tts workers shown: {result['workers_shown']} of {workers}")
    print(f"table refresh per tick ({len(result['refreshes'])} ticks): wall {summary(result['refreshes'])}; "
          f"CPU {summary(result['refresh_cpu'])}")
    print(f"control plane ({len(result['fleet'])} polls): answers collected in {summary(result['fleet'])} "
          f"(0.4 s of it is the collection window); worker table update CPU {summary(result['poll_cpu'])}")
    print(f"queue depths (consumer info of 4 queues, the server's JetStream API): {summary(result['depths'])}")
    applies = result["applies"]
    print(f"events folded: {len(applies)}, {1e6 * statistics.fmean(applies):.0f} us of CPU each "
          f"({sum(applies):.2f} s in all)")
    print(f"event loop lag (50 ms timer, {len(result['lags'])} samples): {summary(result['lags'])}")
    print(f"dashboard behind the log when the book completed: {result['behind_s']:.2f} s")
    print(f"dashboard process CPU: {result['cpu_s']:.1f} s in {result['wall_s']:.1f} s "
          f"({100 * result['cpu_s'] / result['wall_s']:.0f}% of one core; the machine has "
          f"{os.cpu_count()} cores for {workers} workers, parse, assemble, nats-server and this)")
    print(f"reopened on the finished log (machine idle): history of {run.segments} segments folded and shown in "
          f"{shown:.2f} s; event loop lag meanwhile {summary(reopen_lags)}")


if __name__ == "__main__":
    main()
