"""Helpers for integration tests: run services in-process (a job's events are read with
``services.testing.waiting``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.app.serve import serve
from services.settings import Settings


@contextlib.asynccontextmanager
async def running(roles: list[str], settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run service roles in this event loop until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(roles, settings, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
