"""The control plane: every service process answers `nats micro` (the NATS service framework).

Each process registers as ``audiobook-<role>`` (``nats micro ls``, ``nats micro info``, ``nats
micro stats audiobook-tts``). Its ``status`` endpoint answers what the process is doing now
(also given as every endpoint's stats ``data``, so one ``$SRV.STATS`` request shows the whole
fleet); a tts worker also has ``drain`` (finish what is in hand, take no more, exit). This
replaced the ``workers.status`` subject and the ``workers`` KV bucket: one way, not two.

Endpoint subjects are per instance (``audiobook.<role>.<instance id>.<verb>``), so a request
reaches the process it names; discovery (``$SRV.PING|INFO|STATS``) reaches them all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from typing import Any

import orjson
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointStats, Service, ServiceConfig

from events import names

log = logging.getLogger(__name__)
Status = Callable[[], dict[str, Any]]


class ServiceState(StrEnum):
    """What a service process says it is doing (``state`` in its status); the dashboard adds LOST
    for one that stopped answering."""

    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"  # a tts worker finishing what it holds before it exits

    @classmethod
    def of(cls, busy: bool, draining: bool = False) -> ServiceState:
        return cls.DRAINING if draining else cls.BUSY if busy else cls.IDLE


def version() -> str:
    try:
        return metadata.version("audiobook-pipeline")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@dataclass
class ControlPlane:
    """A registered service: its ``status`` and optional control verbs."""

    role: str
    name: str
    status: Status
    verbs: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    service: Service | None = None

    def report(self) -> dict[str, Any]:
        """The status this process gives: identity, uptime, and what its role says."""
        return {"role": self.role, "name": self.name, "host": socket.gethostname(),
                "uptime_s": round(time.monotonic() - self.started, 1), **self.status()}

    async def start(self, nc: Client) -> None:
        config = ServiceConfig(
            name=names.service_name(self.role), version=version(),
            description=f"audiobook-pipeline {self.role} service",
            metadata={"role": self.role, "worker": self.name, "host": socket.gethostname()},
            stats_handler=self._stats,
        )
        self.service = await add_service(nc, config)
        for verb in ("status", *self.verbs):
            await self.service.add_endpoint(name=verb, subject=names.control_subject(self.role, self.service.id, verb),
                                            handler=self._handler(verb), metadata={"verb": verb})
        log.info("%s answers nats micro as %s (%s)", self.role, config.name, self.service.id)

    def _stats(self, endpoint: EndpointStats) -> Any:
        return self.report()

    def _handler(self, verb: str) -> Callable[[Request], Awaitable[None]]:
        async def handle(request: Request) -> None:
            if verb != "status":
                await self.verbs[verb]()
            await request.respond(orjson.dumps(self.report()))
        return handle

    async def stop(self) -> None:
        if self.service is not None:
            try:
                await asyncio.wait_for(self.service.stop(), 2.0)
            except (TimeoutError, Exception) as exc:  # the connection may already be gone
                log.debug("stopping the control plane: %s", exc)


async def fleet(nc: Client, wait: float = 0.5) -> list[dict[str, Any]]:
    """Every audiobook service instance's stats reply (``$SRV.STATS``), collected for ``wait`` seconds.

    Each reply is an ``io.nats.micro.v1.stats_response``; an instance's status is its endpoints'
    stats ``data``: see :func:`status_of`.
    """
    inbox = nc.new_inbox()
    replies: list[dict[str, Any]] = []
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish("$SRV.STATS", b"", reply=inbox)
        deadline = asyncio.get_running_loop().time() + wait
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            try:
                reply = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(reply, dict) and str(reply.get("name", "")).startswith("audiobook-"):
                replies.append(reply)
    finally:
        await sub.unsubscribe()
    return sorted(replies, key=lambda r: (str(r.get("name")), str(r.get("metadata", {}).get("worker"))))


async def fleet_status(nc: Client, wait: float = 0.5) -> list[dict[str, Any]]:
    """Every instance's status (its ``status`` endpoint's data, with its id), as :func:`fleet` finds them."""
    return [status_of(reply) for reply in await fleet(nc, wait)]


def status_of(stats_reply: dict[str, Any]) -> dict[str, Any]:
    """The status an instance reported in its stats reply (its ``status`` endpoint's data)."""
    for endpoint in stats_reply.get("endpoints") or []:
        if endpoint.get("name") == "status" and isinstance(endpoint.get("data"), dict):
            data: dict[str, Any] = endpoint["data"]
            return {"id": stats_reply.get("id"), **data}
    return {"id": stats_reply.get("id")}
