"""The one place where nats-py's errors (and a failed connect) become the client's (``errors``)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

import nats.errors
import nats.js.errors

from services.bus.connect import NatsUnreachable
from services.client.errors import ClientError, ConnectionLost, NoAnswer, NoPipeline, Unreachable

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["translate", "translated", "translating"]


def translate(exc: BaseException) -> ClientError | None:
    """The client error a lower-level one stands for; None when it is not the server's."""
    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, NatsUnreachable):
        return Unreachable(str(exc))
    if isinstance(exc, nats.errors.NoServersError):
        return ConnectionLost("lost the connection to NATS and could not reconnect; run the command again")
    if isinstance(exc, nats.js.errors.NotFoundError):
        return NoPipeline("this NATS server has no audiobook pipeline yet (stream not found): "
                          "start `audiobook serve all` against it first")
    if isinstance(exc, nats.errors.TimeoutError | nats.errors.NoRespondersError):
        return NoAnswer("NATS did not answer; the server is overloaded, or these credentials may not do this "
                        "(see docs/security.md)")
    return None


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise the client error that stands for a nats-py (or connect) error raised inside."""
    try:
        yield
    except (NatsUnreachable, nats.errors.Error, TimeoutError) as exc:
        error = translate(exc)
        if error is None or error is exc:
            raise
        raise error from None


def translating(verb: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A verb whose nats-py errors come out as client errors (:func:`translated`)."""
    @functools.wraps(verb)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with translated():
            return await verb(*args, **kwargs)
    return wrapper
