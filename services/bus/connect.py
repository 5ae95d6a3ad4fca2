"""One connect policy for every process: services reconnect forever, clients fail fast.

Services (parse, tts, assemble) must ride out any server restart, so they reconnect forever.
People's commands (CLI, dashboard) must say at once, in one line, when no server is there,
and give up on a server that stays away.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import nats
import nats.errors
from nats.aio.client import Client

from events.errors import PermanentError
from services.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_URL = "nats://127.0.0.1:4222"


class NatsUnreachable(PermanentError):
    """No NATS server answers at the given address."""


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


async def connect_service(settings: Settings, name: str) -> Client:
    """Connect for a long-running service: reconnect forever."""
    return await nats.connect(
        settings.nats_url or DEFAULT_URL,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        user=settings.nats_user,
        password=settings.nats_password,
    )


async def _probe(url: str, timeout: float = 3.0) -> None:
    """Open a TCP connection and read the server's INFO line: is a NATS server there?"""
    parsed = urlparse(url if "://" in url else f"nats://{url}")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        greeting = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not greeting.startswith(b"INFO"):
        raise ConnectionError("the server there does not speak NATS")


async def connect_client(url: str, settings: Settings, name: str = "audiobook-cli") -> Client:
    """Connect, or raise NatsUnreachable at once; later drops reconnect for up to a minute."""
    first = url.split(",")[0]
    try:
        await _probe(first)
        return await asyncio.wait_for(nats.connect(
            url, name=name, max_reconnect_attempts=60, reconnect_time_wait=1.0, error_cb=_quiet,
            user=settings.nats_user, password=settings.nats_password), 15)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        reason = str(exc) or type(exc).__name__
        raise NatsUnreachable(f"cannot reach NATS at {first} ({reason})") from None
