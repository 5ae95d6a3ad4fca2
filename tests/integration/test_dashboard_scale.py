"""The dashboard at fleet size: 30 tts workers answering the control plane and a 6,000-segment book.

Not a timing test (bench/dashboard.py measures): it checks that everything shows, and that rows
are updated in place (each row added once, never the table rebuilt), on a real nats-server.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import nats
import pytest
from textual.widgets import DataTable

from events.types import BookParsed, ChapterInfo, JobAccepted, SegmentSynthesized
from services.bus.control import ControlPlane
from services.bus.publish import publish_event
from tests.integration.test_dashboard import cells, until
from tui.app import Dashboard

pytestmark = pytest.mark.slow
WORKERS, CHAPTERS, PER_CHAPTER = 30, 60, 100  # 6,000 segments


def counting(calls: Counter[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)
    return counted


async def test_thirty_workers_and_six_thousand_segments(js, client, settings) -> None:
    fleet = []
    for number in range(WORKERS):
        def status(number: int = number) -> dict[str, object]:
            return {"state": "busy", "segments_done": 0, "engines": ["test"], "in_flight": [["jbig", number % 60, 0]]}
        plane = ControlPlane("tts", f"w{number:02}", status)
        await plane.start(client)
        fleet.append(plane)
    app = Dashboard(lambda: nats.connect(settings.nats_url), tick=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            jobs, chapters = app.query_one("#job-table", DataTable), app.query_one("#chapter-table", DataTable)
            calls: Counter[str] = Counter()
            jobs.add_row = counting(calls, "job rows", jobs.add_row)  # type: ignore[method-assign]
            chapters.add_row = counting(calls, "chapter rows", chapters.add_row)  # type: ignore[method-assign]
            chapters.clear = counting(calls, "chapter clears", chapters.clear)  # type: ignore[method-assign]
            await publish_event(js, JobAccepted("jbig", "b" * 64, "big.epub", "test", "short", 1.0))
            await publish_event(js, BookParsed("jbig", "A Big Book", "", "en", tuple(
                ChapterInfo(c, f"Chapter {c + 1}", PER_CHAPTER, 10 * PER_CHAPTER) for c in range(CHAPTERS)),
                engine="test", voice="short"))
            for chapter in range(CHAPTERS):  # as a fleet reports them: a chapter's worth at a time
                await asyncio.gather(*(publish_event(js, SegmentSynthesized(
                    "jbig", chapter, index, f"audio/{chapter}-{index}.aac", 22050, 22050,
                    worker=f"w{index % WORKERS:02}", synth_seconds=0.1)) for index in range(PER_CHAPTER)))
            await until(pilot, lambda: "jbig" in jobs.rows and cells(jobs, "jbig")[3].endswith("6000/6000"))
            await until(pilot, lambda: chapters.row_count == CHAPTERS)
            await pilot.press("2")
            workers = app.query_one("#worker-table", DataTable)
            await until(pilot, lambda: sum(cells(workers, k)[0] == "tts" for k in workers.rows) == WORKERS)
            assert sorted(cells(workers, k)[1] for k in workers.rows) == [f"w{n:02}" for n in range(WORKERS)]
            await pilot.press("1")
            await pilot.pause(1.0)
            assert cells(chapters, str(CHAPTERS - 1))[2].endswith(f"{PER_CHAPTER}/{PER_CHAPTER}")
            assert calls == {"job rows": 1, "chapter rows": CHAPTERS, "chapter clears": 1}, (
                "each row added once and updated in place after that")
            assert app.board.jobs["jbig"].done_segments == CHAPTERS * PER_CHAPTER
    finally:
        for plane in fleet:
            await plane.stop()
