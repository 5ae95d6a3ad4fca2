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

nats-py's own exceptions never leave a verb: ``services.client.translation`` turns them into
the leaves of ``ServerError``, in one place. Anything else (a bug) is not translated. This
module is pure (no NATS), so a script may catch these without importing nats-py.
"""

from __future__ import annotations

from events.errors import PipelineError

__all__ = ["ClientError", "ConnectionLost", "JobNotFound", "JobStateError", "NoAnswer", "NoPipeline", "NoSuchFile",
           "ServerError", "Unreachable", "WorkerNotFound"]


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
