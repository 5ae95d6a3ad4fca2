"""Reading runs in a killable child: memory, CPU and wall-clock limits, and a service that keeps answering.

The bombs (``tests/bombs.py``) are small files that inflate to hundreds of megabytes of markup;
each is refused, and the child that read it never held more than the 1 GB the parse service
allows by default (``AUDIOBOOK_MAX_PARSE_MB``).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from events import names
from events.types import JobRejected
from services.parse.limits import BookLimits, BookTooBig
from services.parse.sandbox import ChildLimits, ReadingStopped, run_limited
from services.settings import Settings
from services.testing.waiting import read_events, wait_for
from tests import bombs
from tests.integration.helpers import running
from tests.sandbox_work import allocate, double, measured_read, refuse, spin

DEFAULT = ChildLimits()  # the parse service's defaults: 1 GB, 600 s
GIB = 2**30


async def test_results_errors_and_limits_cross_from_the_child() -> None:
    assert await run_limited(double, 21, DEFAULT) == 42
    with pytest.raises(BookTooBig, match="too long"):
        await run_limited(refuse, "too long", DEFAULT)
    with pytest.raises(ReadingStopped, match=r"more than 256 MB of memory \(AUDIOBOOK_MAX_PARSE_MB\)"):
        await run_limited(allocate, 512, ChildLimits(memory_bytes=256 * 2**20))
    assert await run_limited(allocate, 64, ChildLimits(memory_bytes=256 * 2**20)) == 64 * 2**20
    with pytest.raises(ReadingStopped, match=r"longer than 1 s \(AUDIOBOOK_MAX_PARSE_S\)"):
        await run_limited(spin, 30.0, ChildLimits(wall_s=1.0))
    with pytest.raises(ReadingStopped, match="more than 1 CPU seconds"):
        await run_limited(spin, 30.0, ChildLimits(cpu_s=1.0, wall_s=20.0))


async def test_the_event_loop_runs_while_a_child_reads() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await run_limited(spin, 2.0, DEFAULT)
    finally:
        ticker.cancel()
    assert ticks >= 25, f"the loop ticked {ticks} times in 2 s"


BOMBS: list[tuple[str, Callable[[Path], Path]]] = [
    ("docx", bombs.docx_bomb), ("epub", bombs.epub_bomb), ("fb2", bombs.fb2_bomb), ("pdf", bombs.pdf_bomb)]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "build"), BOMBS, ids=[k for k, _ in BOMBS])
async def test_a_bomb_is_refused_within_a_gigabyte(kind: str, build: Callable[[Path], Path], tmp_path: Path) -> None:
    path = build(tmp_path)
    try:
        outcome, peak = await run_limited(measured_read, path, DEFAULT)
    except ReadingStopped as exc:  # killed by the kernel's limit before it could say
        outcome, peak = f"refused: {exc}", 0
    print(f"{kind}: {path.stat().st_size / 2**20:.1f} MB file; {outcome}; peak {peak / 2**20:.0f} MB")
    assert peak <= GIB
    if outcome.startswith("read"):  # read within the memory limit: then the character limit refuses it
        with pytest.raises(BookTooBig, match="AUDIOBOOK_MAX_BOOK_CHARS"):
            BookLimits().check_book(int(outcome.split()[1].replace(",", "")), 1, 1.0)
    else:
        assert outcome.startswith("refused")


@pytest.mark.slow
async def test_parse_answers_everyone_while_a_bomb_is_read(js, client, settings: Settings, tmp_path: Path) -> None:
    """While the EPUB bomb is read, a garbage request is answered and ``$SRV.PING`` gets a reply."""
    shutil.copy(bombs.epub_bomb(tmp_path), settings.input_dir / "bomb.epub")
    async with running(["parse"], settings):
        await client.publish(names.REQUEST_SUBJECT, b'{"source": "bomb.epub", "engine": "test", "request_id": "b"}')
        await asyncio.sleep(1.0)  # the bomb is being read
        started = time.monotonic()
        await client.publish(names.REQUEST_SUBJECT, b"{garbage")

        async def rejections() -> list[JobRejected]:
            found = [e for e in await read_events(js) if isinstance(e, JobRejected)]
            return found if found else []

        first = await wait_for(rejections, timeout=60)
        answered = time.monotonic() - started
        assert "not valid JSON" in first[0].reason, first
        reply = await client.request("$SRV.PING", b"", timeout=5)
        assert reply.data
        both = await wait_for(lambda: _two(js), timeout=180)
    assert answered < 10, f"the garbage request waited {answered:.1f} s"
    bomb = next(r for r in both if "JSON" not in r.reason)
    assert "MB of memory" in bomb.reason or "AUDIOBOOK_MAX_BOOK_CHARS" in bomb.reason, bomb.reason


async def _two(js) -> list[JobRejected] | None:  # type: ignore[no-untyped-def]
    found = [e for e in await read_events(js) if isinstance(e, JobRejected)]
    return found if len(found) >= 2 else None


def test_a_child_starts_under_a_program_that_replaced_stderr(tmp_path: Path) -> None:
    """Textual replaces sys.stderr with an object whose descriptor is -1; multiprocessing passes that
    descriptor to its helper processes, and the first book read under the dashboard failed with
    "bad value(s) in fds_to_keep". A fresh interpreter, so the helpers start here, under the stand-in."""
    import subprocess
    import sys

    script = (
        "import asyncio, io, sys\n"
        "class NoDescriptor(io.StringIO):\n"
        "    def fileno(self): return -1\n"
        "sys.stderr = NoDescriptor()\n"
        "from services.parse.sandbox import ChildLimits, run_limited\n"
        "from tests.sandbox_work import double\n"
        "print(asyncio.run(run_limited(double, 21, ChildLimits(wall_s=60))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "42"
