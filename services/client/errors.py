"""What the client raises: one tree, rooted in the pipeline's own error, translated in one place.

::

    PipelineError                  (events.errors: every error raised on purpose)
    └── ClientError                a verb could not do what was asked; the message is for a person
        ├── NoSuchFile             the book or recording named is not a file here
        ├── JobNotFound            no job with that id in the store
        ├── JobStateError          the verb does not apply to the job as it is now
        │                          (cancel a finished job, pause a paused one, resume one never accepted)
        ├── WorkerNotFound         no tts worker of that name answers the control plane
        └── ServerError            the server, not the request (translated from nats-py by ``translated``)
            ├── Unreachable        no NATS server answers at the address, or it refuses the credentials
            ├── ConnectionLost     the connection went and did not come back
            ├── NoPipeline         the server has no audiobook streams yet (no service ever started)
            └── NoAnswer           a request timed out or nobody listens (overload, or permissions)

nats-py's own exceptions never leave a verb: :func:`translated` turns them into the leaves of
``ServerError``. Anything else (a bug) is not translated.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

import nats.errors
import nats.js.errors

from events.errors import PipelineError
from services.bus.connect import NatsUnreachable

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["ClientError", "ConnectionLost", "JobNotFound", "JobStateError", "NoAnswer", "NoPipeline", "NoSuchFile",
           "ServerError", "Unreachable", "WorkerNotFound", "translate", "translated", "translating"]


class ClientError(PipelineError):
    """A verb could not do what was asked; ``str()`` says why, in one line for a person."""


class NoSuchFile(ClientError):
    """The book or recording named is not a file on this machine."""


class JobNotFound(ClientError):
    """No job with that id has events in this store."""


class JobStateError(ClientError):
    """The verb does not apply to the job in its present state."""


class WorkerNotFound(ClientError):
    """No tts worker of that name answers the control plane."""


class ServerError(ClientError):
    """The server, not the request: unreachable, gone, without the pipeline, or not answering."""


class Unreachable(ServerError):
    """No NATS server answers at the address, or it refuses these credentials."""


class ConnectionLost(ServerError):
    """The connection was lost and could not be made again."""


class NoPipeline(ServerError):
    """The server has no audiobook pipeline (its streams were never created)."""


class NoAnswer(ServerError):
    """A request timed out or had no responder: the server is overloaded, or the credentials may not do it."""


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
