"""What a running service is doing, on request: ``kill -USR1 PID`` writes every thread's stack,
``kill -USR2 PID`` every asyncio task's, into the service's log (its standard error).

A service that hangs says nothing by itself; these say where it waits. The threads' dump comes
from the interpreter's own handler (:mod:`faulthandler`), so it answers even when the event
loop is blocked; the tasks' dump runs on the loop.
"""

from __future__ import annotations

import asyncio
import faulthandler
import signal
import sys

THREADS_SIGNAL = signal.SIGUSR1
TASKS_SIGNAL = signal.SIGUSR2


def awaiting(coro: object) -> list[str]:
    """Where a suspended coroutine waits: each frame of its chain of awaits, outermost first
    (a task's own stack shows one frame only)."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines


def tasks_text(loop: asyncio.AbstractEventLoop) -> str:
    """Every unfinished task of ``loop`` with the chain of awaits it waits in."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    out = [f"--- {len(tasks)} asyncio task(s)"]
    for task in tasks:
        out.append(f"task {task.get_name()}:")
        out.extend(awaiting(task.get_coro()))
    return "\n".join(out) + "\n"


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Answer the two signals in this process (the main thread's loop ``loop``)."""
    faulthandler.register(THREADS_SIGNAL, file=sys.stderr, all_threads=True)
    loop.add_signal_handler(TASKS_SIGNAL, lambda: print(tasks_text(loop), file=sys.stderr, flush=True))
