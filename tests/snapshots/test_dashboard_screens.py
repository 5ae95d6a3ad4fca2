"""Pixel snapshots of the dashboard's screens (pytest-textual-snapshot), from a fixed picture.

The app is the real one; only its inputs are fixed: events folded into its board, control-plane
answers and queue depths handed to the same methods the live poll calls, and a fixed clock, so
every run draws the same screen. Update after a deliberate change: ``pytest tests/snapshots
--snapshot-update``, then look at the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client
from textual.pilot import Pilot

from events.types import (
    BookParsed,
    ChapterInfo,
    JobAccepted,
    JobCompleted,
    SegmentFailed,
    SegmentSynthesized,
)
from services.bus.jobs import QueueDepth
from tui.app import Dashboard

T0 = 1_795_000_000.0  # a fixed moment (server times of the events)
SIZE = (100, 30)


class Clock:
    def __init__(self) -> None:
        self.t = T0 + 300

    def __call__(self) -> float:
        return self.t


async def never() -> Client:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def picture() -> tuple[Dashboard, Any]:
    """A dashboard with two books (one running with a failure, one finished) and five instances."""
    clock = Clock()
    app = Dashboard(never, tick=3600, now=clock)  # no timer fires: only what run_before draws

    async def draw(pilot: Pilot[None]) -> None:
        seq = iter(range(1, 10_000))
        alice = [ChapterInfo(i, title, 40, 4000) for i, title in enumerate(
            ["Down the Rabbit-Hole", "The Pool of Tears", "A Caucus-Race and a Long Tale",
             "The Rabbit Sends in a Little Bill", "Advice from a Caterpillar"])]
        app.board.apply(next(seq), T0, JobAccepted("jalice", "a" * 64, "alice.epub", "", "", 1.0))
        app.board.apply(next(seq), T0 + 2, BookParsed("jalice", "Alice's Adventures in Wonderland",
                                                      "Lewis Carroll", "en", tuple(alice), engine="piper",
                                                      voice="en_US-joe-medium"))
        for n in range(130):  # one segment every 2 s; chapter 1 and 2 done, 3 under way
            app.board.apply(next(seq), T0 + 40 + 2 * n, SegmentSynthesized(
                "jalice", n // 40, n % 40, f"audio/{n}.aac", 22050 * 9, 22050, worker=f"host-w{n % 2}",
                synth_seconds=0.9))
        app.board.apply(next(seq), T0 + 290, SegmentFailed("jalice", 3, 30, "espeak-ng exited with status 1",
                                                           permanent=True, worker="host-w1"))
        app.board.apply(next(seq), T0 - 900, JobAccepted("jkafka", "k" * 64, "kafka.epub", "", "", 1.0))
        app.board.apply(next(seq), T0 - 899, BookParsed("jkafka", "Die Verwandlung", "Franz Kafka", "de",
                                                        (ChapterInfo(0, "I", 3, 300),), engine="espeak", voice="de"))
        for n in range(3):
            app.board.apply(next(seq), T0 - 890 + n, SegmentSynthesized("jkafka", 0, n, "audio/k.aac", 22050 * 20,
                                                                        22050, cache_hit=n == 0))
        app.board.apply(next(seq), T0 - 880, JobCompleted("jkafka", "books/jkafka.m4b", 60.0, 1_000_000, 1))

        def tts(name: str, done: int, held: list[list[object]]) -> dict[str, object]:
            first = [int(str(n)) + 1 for n in held[0][1:]] if held else []
            current = f"job jalice chapter {first[0]} segment {first[1]}" if held else ""
            return {"id": f"id-{name}", "role": "tts", "name": name, "state": "busy" if held else "idle",
                    "segments_done": done, "audio_seconds": done * 9.0, "real_time_factor": 0.11,
                    "uptime_s": 300.0, "current": current or None, "in_flight": held,
                    "engines": ["piper", "espeak", "test"]}

        services = [{"id": "id-parse", "role": "parse", "name": "host-parse", "state": "idle", "requests": 2,
                     "uptime_s": 300.0}, {"id": "id-assemble", "role": "assemble", "name": "host-assemble",
                                          "state": "idle", "builds": 1, "uptime_s": 300.0}]
        app.show_workers([*services, tts("host-w0", 60, [["jalice", 2, 11]]), tts("host-w1", 60, [["jalice", 2, 12]]),
                          tts("host-w2", 10, [])])
        clock.t += 10  # ten seconds later: w0 and w1 did 5 more each, w2 stopped answering
        app.show_workers([*services, tts("host-w0", 65, [["jalice", 2, 13]]), tts("host-w1", 65, [["jalice", 3, 0]])])
        app.show_workers([])  # nothing more from anyone yet: w2 stays lost, the rest are 0 s late
        app.refresh_jobs()
        app.rates.extend([0.5 + (n % 7) / 10 for n in range(120)])
        app.audio_rates.extend([4.5 + (n % 5) for n in range(120)])
        app.show_rates()
        app.show_queue([QueueDepth("piper", 68, 2, 1), QueueDepth("espeak", 0, 0, 0, paused=True)])
        await pilot.pause()

    return app, draw


def test_jobs_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, draw = picture()
    assert snap_compare(app, terminal_size=SIZE, run_before=draw)


def test_jobs_screen_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, draw = picture()
    assert snap_compare(app, terminal_size=(80, 24), run_before=draw)


def test_workers_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, draw = picture()
    assert snap_compare(app, terminal_size=SIZE, run_before=draw, press=["2"])


def test_queue_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, draw = picture()
    assert snap_compare(app, terminal_size=SIZE, run_before=draw, press=["3"])


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app, draw = picture()
    assert snap_compare(app, terminal_size=SIZE, run_before=draw, press=["question_mark"])
