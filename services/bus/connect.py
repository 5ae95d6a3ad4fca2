"""One connect policy for every process: services reconnect forever, clients fail fast.

Services (parse, tts, assemble) must ride out any server restart, so they reconnect forever.
People's commands (CLI, dashboard) must say at once, in one line, when no server is there,
and give up on a server that stays away.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from urllib.parse import urlparse

import nats
import nats.errors
from nats.aio.client import Client

from events import names
from events.errors import PermanentError
from events.roles import ROLES
from services.settings import Settings, comma_list

log = logging.getLogger(__name__)
DEFAULT_URL = "nats://127.0.0.1:4222"


class NatsUnreachable(PermanentError):
    """No NATS server answers at the given address."""


def server_urls(url: str) -> list[str]:
    """The servers in ``url``: one URL, or several separated by commas (the nodes of a cluster).

    A client connects to one and fails over to the others (and to any node the cluster
    announces) when it goes away.
    """
    return list(comma_list(url)) or [DEFAULT_URL]


async def _quiet(exc: Exception) -> None:
    log.debug("nats: %s", exc)


class CredentialsRefused(NatsUnreachable):
    """The server is there, and refuses these credentials: retrying cannot help."""


def tls_context(url: str, settings: Settings) -> ssl.SSLContext | None:
    """TLS for ``tls://`` URLs or a configured CA: the server's certificate is always verified."""
    if settings.nats_tls_ca is None and not url.startswith("tls://"):
        return None
    return ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)


def named_user(url: str, settings: Settings) -> str | None:
    """The named user (not a role: ``audiobook user add``) these credentials connect as, or None."""
    user = settings.nats_user or urlparse(server_urls(url)[0]).username
    return user if user and user not in ROLES else None


def user_of(nc: Client) -> str | None:
    """The named user a connection is, from its inbox prefix (:func:`_options` sets it), or None."""
    prefix = bytes(getattr(nc, "_inbox_prefix", b"") or b"").decode()
    user = prefix.removeprefix("_INBOX_")
    return user if user != prefix and user and user not in ROLES else None


def _options(url: str, settings: Settings) -> dict[str, object]:
    """What every connection of this process shares: credentials and TLS (and a named user's own
    inbox prefix, the only replies their permissions let them read)."""
    options: dict[str, object] = {"user": settings.nats_user, "password": settings.nats_password}
    if (user := named_user(url, settings)) is not None:
        options["inbox_prefix"] = names.user_inbox(user).encode()
    elif settings.nats_user in names.ROLE_INBOXES:  # a worker's role reads no other replies (its health check too)
        options["inbox_prefix"] = names.ROLE_INBOXES[settings.nats_user].encode()
    context = tls_context(url, settings)
    if context is not None:
        options["tls"] = context
    return options


async def _log_error(exc: Exception) -> None:
    log.warning("nats: %s", exc or type(exc).__name__)


async def check_credentials(url: str, settings: Settings, timeout: float = 5.0) -> None:
    """One connection attempt without reconnects: CredentialsRefused if the server says no.

    nats-py retries an authorization error like a network error; wrong credentials would
    then loop forever. A server that is not up yet is not an answer: nothing is raised.
    """
    try:
        nc = await asyncio.wait_for(nats.connect(
            server_urls(url), allow_reconnect=False, connect_timeout=timeout, error_cb=_quiet,
            **_options(url, settings)), timeout + 1)  # type: ignore[arg-type]
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        if isinstance(exc, ssl.SSLError):  # an untrusted certificate does not become trusted by retrying
            raise NatsUnreachable(f"NATS at {url.split(',')[0]}: TLS failed ({exc.reason or exc}); "
                                  "give the CA that signed the server's certificate in AUDIOBOOK_NATS_TLS_CA") from None
        # during the handshake nats-py reports a refusal as a plain Error with the server's words
        if isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in str(exc).lower():
            who = f"user {settings.nats_user!r}" if settings.nats_user else "no credentials"
            raise CredentialsRefused(f"NATS at {url.split(',')[0]} refused the credentials ({who}); "
                                     "check AUDIOBOOK_NATS_USER and AUDIOBOOK_NATS_PASSWORD") from None
        return
    await nc.close()


async def connect_service(settings: Settings, name: str) -> Client:
    """Connect for a long-running service: reconnect forever (but never with refused credentials).
    Its replies come to its role's own inbox prefix where the role has one (:func:`_options`)."""
    url = settings.nats_url or DEFAULT_URL
    await check_credentials(url, settings)
    return await nats.connect(
        server_urls(url),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=_log_error,
        **_options(url, settings),  # type: ignore[arg-type]
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


async def _first_answering(servers: list[str]) -> str:
    """The first of ``servers`` where a NATS server answers (the last one's error if none does)."""
    for server in servers[:-1]:
        try:
            await _probe(server)
            return server
        except (TimeoutError, OSError):
            continue
    await _probe(servers[-1])
    return servers[-1]


async def connect_client(url: str, settings: Settings, name: str = "audiobook-cli") -> Client:
    """Connect, or raise NatsUnreachable at once; later drops reconnect for up to a minute."""
    servers = server_urls(url)
    first = servers[0]
    try:
        first = await _first_answering(servers)
        await check_credentials(url, settings)
        return await asyncio.wait_for(nats.connect(
            servers, name=name, max_reconnect_attempts=60, reconnect_time_wait=1.0, error_cb=_quiet,
            **_options(url, settings)), 15)  # type: ignore[arg-type]
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        reason = str(exc) or type(exc).__name__
        raise NatsUnreachable(f"cannot reach NATS at {first} ({reason})") from None
