"""`audiobook serve`: run service roles in this process, or tts workers as supervised children."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext

from services.app import stacks
from services.app.stack import default_threads, spawn_service
from services.app.supervise import POLL_S, Supervisor
from services.bus.connect import connect_service
from services.bus.topology import check_worker_needs, ensure_topology, made_by_the_core, worker_needs
from services.bus.tracing import setup_tracing, shutdown_tracing
from services.scratch import sweep_orphans
from services.settings import Settings, child_env

if TYPE_CHECKING:
    from services.assemble.service import AssembleService
    from services.check.service import CheckWorker
    from services.parse.service import ParseService
    from services.tts.worker import TtsWorker

    Service = ParseService | AssembleService | TtsWorker | CheckWorker

log = logging.getLogger(__name__)
T = TypeVar("T")
ROLES = ("parse", "tts", "assemble", "check")
SCRATCH_ROLES = {"parse", "assemble"}  # the roles that read or join books in scratch folders


def factory(role: str) -> Callable[[JetStreamContext, Settings, Client], Awaitable[Service]]:
    """The ``create`` of ``role``'s service, imported only for the roles this process runs: a process
    serving one role does not pay for the others' libraries (the tts worker's signal processing
    alone takes 1.7 s to import)."""
    if role == "parse":
        from services.parse.service import ParseService

        return ParseService.create
    if role == "assemble":
        from services.assemble.service import AssembleService

        return AssembleService.create
    if role == "check":
        from services.check.service import CheckWorker

        return CheckWorker.create
    from services.tts.worker import TtsWorker

    return TtsWorker.create


async def _supervise_workers(count: int, settings: Settings, stop: asyncio.Event) -> None:
    """Keep ``count`` tts worker processes running until ``stop``; restart any that crash (one
    drained on request exits cleanly and its slot stays empty)."""
    supervisor = Supervisor(restarts=None)
    try:
        for slot in range(count):
            env = child_env(settings, WORKER_NAME=f"{settings.worker_name}-w{slot}")
            supervisor.keep(f"tts worker {slot}", functools.partial(spawn_service, ["tts", "--workers", "1"], env))
        while not stop.is_set():
            await asyncio.sleep(POLL_S)
            supervisor.check()
    finally:
        await asyncio.to_thread(supervisor.stop)


async def serve(roles: list[str], settings: Settings, workers: int = 1, stop: asyncio.Event | None = None) -> None:
    """Run the given roles until ``stop`` (default: SIGTERM/SIGINT); a failing role raises."""
    setup_tracing(settings.service_name or "audiobook-" + "-".join(roles), settings.otlp_endpoint)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        stacks.install(loop)  # kill -USR1 / -USR2: where it waits, in its log
    worker_only = set(roles) in ({"tts"}, {"check"})  # a worker makes no topology
    connected = await _unless_stopped(connect_service(settings, name="audiobook-" + "-".join(roles)), stop)
    if connected is None:  # asked to stop while the server was still away
        shutdown_tracing()
        return
    nc = connected.result()
    js = nc.jetstream()
    if SCRATCH_ROLES & set(roles):  # what a killed parse or assemble of this host left in the temporary folder
        await asyncio.to_thread(sweep_orphans)
    if worker_only:  # the core services make the topology; a worker waits for it, or for its stop
        from services.tts.worker import served_engines

        needs = check_worker_needs() if roles[0] == "check" else worker_needs(served_engines(settings))
        made = await _unless_stopped(made_by_the_core(js, needs), stop)
        if made is None:  # stopped (its parent gone, say) while the server was away: it ends
            await _close(nc)
            shutdown_tracing()
            return
        made.result()
    else:
        await ensure_topology(js, settings)
    tasks: list[asyncio.Task[None]] = []
    for role in roles:
        if role == "tts" and workers > 1:
            tasks.append(asyncio.create_task(_supervise_workers(workers, settings, stop)))
            continue
        service = await factory(role)(js, settings, nc)
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
        await _close(nc)
        shutdown_tracing()


async def _unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> asyncio.Task[T] | None:
    """``work`` run to its end (its task, done), or None when ``stop`` comes first (``work`` is cancelled)."""
    task, stopping = asyncio.create_task(work), asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        return None
    return task


async def _close(nc: Client) -> None:
    """Close the connection, giving up after 5 s: a server gone for good must not keep the process alive."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), 5)


def run_serve(roles: list[str], settings: Settings, workers: int, threads: int | None) -> None:
    """``audiobook serve``: roles in this process until SIGTERM/SIGINT."""
    if "all" in roles:
        roles = list(ROLES)
    settings = replace(settings, tts_threads=threads or settings.tts_threads or default_threads(workers))
    asyncio.run(serve(sorted(set(roles), key=ROLES.index), settings, workers))
