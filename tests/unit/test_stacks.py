"""A service's asyncio tasks, written with the whole chain each waits in (services.app.stacks)."""

from __future__ import annotations

import asyncio

from services.app.stacks import tasks_text


async def _inner(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def _outer(started: asyncio.Event) -> None:
    await _inner(started)


async def test_each_task_is_written_with_every_await_it_is_suspended_in() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(_outer(started), name="the-service")
    await started.wait()
    try:
        text = tasks_text(asyncio.get_running_loop())
    finally:
        task.cancel()
    body = text.split("task the-service:\n", 1)[1].splitlines()
    assert " in _outer" in body[0] and " in _inner" in body[1] and " in wait" in body[2], text
    assert text.startswith("--- 2 asyncio task(s)")  # this test's own task and the service's
