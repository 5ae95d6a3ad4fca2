"""How a command reaches the pipeline: the given server, the embedded stack of a ``convert`` running
here, or an embedded stack started for the command; and how its coroutine is run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from nats.aio.client import Client

from events.errors import PipelineError
from services.app.stack import embedded_stack, running_stack
from services.client import PipelineClient
from services.client.session import open_connection
from services.client.translation import translated
from services.settings import Settings

T = TypeVar("T")


class CliError(PipelineError):
    """A problem to report in one line, with a non-zero exit."""


def preloaded(args: argparse.Namespace) -> tuple[str, ...]:
    """The voice an embedded stack's workers load as they start, for a ``convert``: the one it
    names, else its engine's (or the default engine's) default voice, which most books get.
    Nothing for a cloning voice (its recording is not in the store yet) or another command."""
    if getattr(args, "command", None) != "convert" or getattr(args, "speaker", None):
        return ()
    return (f"{args.engine or ''}/{args.voice or ''}",)


@contextlib.asynccontextmanager
async def connection(args: argparse.Namespace, settings: Settings, services: bool = True) -> AsyncIterator[Client]:
    """A connection to the given server; else to the embedded stack of a ``convert`` running here (for
    commands that need no services of their own), else to an embedded stack started for this command."""
    url = getattr(args, "nats_url", None) or settings.nats_url
    if not url and not services and (attached := running_stack(settings)) is not None:
        settings, url = attached, attached.nats_url
    async with contextlib.AsyncExitStack() as stack:
        if not url:
            settings = replace(settings, preload=settings.preload or preloaded(args))
            settings = await stack.enter_async_context(embedded_stack(settings, getattr(args, "workers", 1), services))
            url = str(settings.nats_url)
        nc = await open_connection(url, settings, "cli")
        stack.push_async_callback(nc.close)
        yield nc


@contextlib.asynccontextmanager
async def client(args: argparse.Namespace, settings: Settings, services: bool = True
                 ) -> AsyncIterator[PipelineClient]:
    """The operator API on :func:`connection`, as the CLI."""
    async with connection(args, settings, services) as nc:
        yield PipelineClient(nc, "cli")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a lost or silent server is one line (a client error), not a traceback."""
    with translated():
        return asyncio.run(coro)


def ask(args: argparse.Namespace, settings: Settings, verb: Callable[[PipelineClient], Awaitable[T]]) -> T:
    """One client verb against the stack the arguments reach, starting no services of its own."""
    async def body() -> T:
        async with client(args, settings, services=False) as operator:
            return await verb(operator)

    return run(body())
