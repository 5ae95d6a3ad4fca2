"""Run service roles in this process (parse, assemble, one tts worker) or tts workers as children."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace

from nats.js import JetStreamContext

from services.assemble.service import AssembleService
from services.bus import connect
from services.embedded import die_with_parent
from services.parse.service import ParseService
from services.settings import Settings
from services.topology import ensure_topology
from services.tracing import setup_tracing, shutdown_tracing
from services.tts.worker import TtsWorker

log = logging.getLogger(__name__)
ROLES = ("parse", "tts", "assemble")
Factory = Callable[[JetStreamContext, Settings], Awaitable[ParseService | AssembleService | TtsWorker]]
FACTORIES: dict[str, Factory] = {
    "parse": ParseService.create, "assemble": AssembleService.create, "tts": TtsWorker.create,
}


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


async def _supervise_workers(count: int, settings: Settings, stop: asyncio.Event) -> None:
    """Keep ``count`` tts worker processes running until ``stop``; restart any that die."""
    env = dict(os.environ, AUDIOBOOK_NATS_URL=str(settings.nats_url),
               AUDIOBOOK_TTS_THREADS=str(settings.tts_threads))
    cmd = [sys.executable, "-m", "services", "serve", "tts", "--workers", "1"]
    procs: list[subprocess.Popen[bytes] | None] = [None] * count
    try:
        while not stop.is_set():
            for slot, proc in enumerate(procs):
                if proc is None or proc.poll() is not None:
                    if proc is not None:
                        log.warning("tts worker %d exited with %s; restarting", slot, proc.returncode)
                    worker_env = dict(env, AUDIOBOOK_WORKER_NAME=f"{settings.worker_name}-w{slot}")
                    procs[slot] = subprocess.Popen(cmd, env=worker_env, preexec_fn=die_with_parent)
            await asyncio.sleep(0.5)
    finally:
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in procs:
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def serve(roles: list[str], settings: Settings, workers: int = 1, stop: asyncio.Event | None = None) -> None:
    """Run the given roles until ``stop`` (default: SIGTERM/SIGINT); a failing role raises."""
    setup_tracing("audiobook-" + "-".join(roles), settings.otlp_endpoint)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    nc = await connect(settings, name="audiobook-" + "-".join(roles))
    js = nc.jetstream()
    await ensure_topology(js, settings)
    tasks: list[asyncio.Task[None]] = []
    for role in roles:
        if role == "tts" and workers > 1:
            tasks.append(asyncio.create_task(_supervise_workers(workers, settings, stop)))
            continue
        service = await (TtsWorker.create(js, settings, nc) if role == "tts" else FACTORIES[role](js, settings))
        tasks.append(asyncio.create_task(service.run(stop), name=role))
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.wait(tasks, timeout=15)
        for task in done:
            if task is not stopper and task.exception():
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await nc.close()
        shutdown_tracing()


def run_serve(roles: list[str], settings: Settings, workers: int, threads: int | None) -> None:
    if "all" in roles:
        roles = list(ROLES)
    if threads is None and not os.environ.get("AUDIOBOOK_TTS_THREADS"):
        threads = default_threads(workers)
    if threads is not None:
        settings = replace(settings, tts_threads=threads)
    asyncio.run(serve(sorted(set(roles), key=ROLES.index), settings, workers))
