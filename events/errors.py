"""The pipeline's one error tree (pure).

Every error the pipeline raises on purpose derives from :class:`PipelineError`, and its
message is written for a person. The split that the consume loop acts on:

* :class:`PermanentError`: retrying cannot help (a broken book, an unknown voice, text the
  engine cannot speak). The message is given up on, with this reason in an event.
* :class:`TransientError`: it may work later (the server restarting, a store briefly away).
  The message is retried after a delay, and given up on after the delivery limit.

Library errors (nats-py, asyncio time-outs, OS errors) are translated into this split in one
place: ``services.bus.consume.classify``.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose; ``str()`` is for a person."""


class PermanentError(PipelineError):
    """Retrying cannot help: give the message up, with this reason."""


class TransientError(PipelineError):
    """May succeed later: retry the message after a delay."""


__all__ = ["PermanentError", "PipelineError", "TransientError"]
