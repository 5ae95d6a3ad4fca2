"""Run one function in a child process with a memory, CPU-time and wall-clock limit.

A book is read in a child, never in the parse service's own process: a DOCX that inflates to
gigabytes, a PDF whose drawing commands never end or a reader bug that loops stops the child,
which is killed (with any processes it started), and the service answers the request with the
reason while it goes on answering everyone else. The child is forked from a server process
that has already imported the readers (multiprocessing's ``forkserver``): a few milliseconds,
not an interpreter start, per book.

The limits are the kernel's (``setrlimit``): address space (``RLIMIT_AS``, so an allocation
past it fails with ``MemoryError`` in the child) and CPU seconds (``RLIMIT_CPU``, SIGXCPU).
The wall-clock limit is the parent's: past it the child's process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from events.errors import PermanentError

T = TypeVar("T")
A = TypeVar("A")
PRELOAD = ["services.parse.preloaded"]  # imported once in the fork server: every child starts with it
JOIN_S = 5.0


class ReadingStopped(PermanentError):
    """The child passed a limit (or died); the message names the limit and its setting."""


@dataclass(frozen=True)
class ChildLimits:
    memory_bytes: int = 1024 * 2**20
    cpu_s: float = 600.0
    wall_s: float = 600.0


_context: Any = None


def _forkserver() -> Any:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


@contextlib.contextmanager
def _stderr_with_a_descriptor() -> Any:
    """multiprocessing hands ``sys.stderr``'s descriptor to the helper processes it starts (its
    resource tracker). A program that replaced ``sys.stderr`` with an object without a real one
    (Textual's dashboard does: -1) makes that start fail with "bad value(s) in fds_to_keep", so
    the start uses the process's own stderr."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable or sys.__stderr__ is None:
        yield
        return
    replaced, sys.stderr = sys.stderr, sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = replaced


def warm_up() -> None:
    """Start the fork server now (it imports the readers: most of a second), not at the first book."""
    from multiprocessing import forkserver

    _forkserver()
    with _stderr_with_a_descriptor():
        forkserver.ensure_running()


def _start(process: Any) -> None:
    with _stderr_with_a_descriptor():
        process.start()


def _limit_self(limits: ChildLimits) -> None:
    """In the child: its own process group (killed as one), and the kernel's limits."""
    with contextlib.suppress(OSError):
        os.setpgrp()
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = max(1, int(limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _child(conn: Connection, work: Callable[[Any], Any], argument: Any, limits: ChildLimits) -> None:
    """The child's whole life: set the limits, do the work, send ("ok", result) or ("error", exc)."""
    try:
        _limit_self(limits)
        outcome: tuple[str, Any] = ("ok", work(argument))
    except MemoryError:
        outcome = ("memory", None)
    except BaseException as exc:  # sent to the parent, which decides what it means
        outcome = ("error", exc)
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("memory", None))
    except Exception as exc:  # an exception that cannot be pickled: its words are enough
        conn.send(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}"[:2000] or str(exc))))
    finally:
        conn.close()


def _too_much_memory(limits: ChildLimits) -> ReadingStopped:
    return ReadingStopped(f"reading the book needed more than {limits.memory_bytes / 2**20:,.0f} MB of memory "
                          "(AUDIOBOOK_MAX_PARSE_MB)")


def _died(exitcode: int | None, limits: ChildLimits) -> ReadingStopped:
    """Why a child ended without an answer, for a person."""
    if exitcode == -signal.SIGXCPU:
        return ReadingStopped(f"reading the book used more than {limits.cpu_s:g} CPU seconds (AUDIOBOOK_MAX_PARSE_S)")
    if exitcode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):  # an allocation refused in C
        return ReadingStopped(f"the reader stopped (signal {-(exitcode or 0)}), most likely needing more than "
                              f"{limits.memory_bytes / 2**20:,.0f} MB of memory (AUDIOBOOK_MAX_PARSE_MB)")
    return ReadingStopped(f"the reader stopped unexpectedly (exit code {exitcode})")


def _kill(process: Any) -> None:
    """Kill the child and everything it started (its process group), if still there."""
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, ValueError):
            process.kill()


async def run_limited(work: Callable[[A], T], argument: A, limits: ChildLimits) -> T:
    """``work(argument)`` in a limited child; its result, its exception, or :class:`ReadingStopped`.

    The event loop never waits on the child: it waits for the pipe to become readable.
    ``work`` and ``argument`` must be picklable (a module-level function and plain data).
    """
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, work, argument, limits), name="audiobook-reader")
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(_start, process)
        sender.close()
        readable = asyncio.Event()
        loop.add_reader(receiver.fileno(), readable.set)
        try:
            await asyncio.wait_for(readable.wait(), limits.wall_s)
        except TimeoutError:
            raise ReadingStopped(f"reading the book took longer than {limits.wall_s:g} s "
                                 "(AUDIOBOOK_MAX_PARSE_S)") from None
        finally:
            loop.remove_reader(receiver.fileno())
        try:
            kind, value = await asyncio.wait_for(asyncio.to_thread(receiver.recv), limits.wall_s)
        except (EOFError, OSError, TimeoutError):
            await asyncio.to_thread(process.join, JOIN_S)
            raise _died(process.exitcode, limits) from None
    finally:
        _kill(process)
        receiver.close()
        await asyncio.to_thread(process.join, JOIN_S)
    if kind == "memory":
        raise _too_much_memory(limits)
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]
