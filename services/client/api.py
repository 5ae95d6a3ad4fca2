"""The operator API in one object: :class:`PipelineClient`, and :func:`connect` to get one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.client.follow import Followed
from services.client.jobs import JobVerbs
from services.client.session import open_connection
from services.client.voices import VoiceVerbs
from services.settings import Settings

__all__ = ["PipelineClient", "connect"]


class PipelineClient(JobVerbs, VoiceVerbs, Followed):
    """Every operator verb over one NATS connection: jobs (submit, status, resume, cancel, pause and
    unpause), following a job, the fleet (workers, pause synthesis, drain) and voices.

    ``origin`` (``cli``, ``dashboard``, ``script``) names the client in message ids and spans.
    The connection stays the caller's: close it, or use :func:`connect`.
    """


@contextlib.asynccontextmanager
async def connect(url: str, settings: Settings | None = None, origin: str = "script"
                  ) -> AsyncIterator[PipelineClient]:
    """A client on the server at ``url`` (credentials and TLS from ``settings``), closed on exit."""
    nc = await open_connection(url, settings or Settings(), origin)
    try:
        yield PipelineClient(nc, origin)
    finally:
        await nc.close()
