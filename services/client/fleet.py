"""Fleet verbs: the service instances (nats micro), synthesis paused and resumed per engine, drain.

Pausing synthesis is a JetStream consumer pause on engines' queues (``services.bus.pausing``):
workers finish what they hold, queued segments wait, nothing is lost.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from typing import Any

import nats.errors
import orjson

from events.names import control_subject, service_name
from services.bus.control import fleet, fleet_status
from services.bus.jobs import QueueDepth, queue_depths, served_engines
from services.bus.pausing import pause_synthesis, resume_synthesis
from services.client import guards
from services.client.errors import ClientError, WorkerNotFound
from services.client.session import Session
from services.client.translation import translating

__all__ = ["DRAIN_TIMEOUT_S", "FleetVerbs"]
DRAIN_TIMEOUT_S = 5.0


class FleetVerbs(Session):
    """What a client asks of the service instances and the engines' queues."""

    @translating
    async def workers(self, wait: float = 0.5) -> list[dict[str, Any]]:
        """Every service instance's status (with its instance ``id``), as answered within ``wait`` seconds
        (none for a named user: a worker's status names the jobs in its hands, anyone's)."""
        if self.user:
            return []
        return await fleet_status(self.nc, wait)

    async def served_engines(self, wait: float = 0.5) -> set[str] | None:
        """Engines the live tts workers run; None when the control plane does not answer the question
        (nor for a named user, who may not ask it)."""
        if self.user:
            return None
        try:
            return served_engines(await self.workers(wait))
        except ClientError:
            return None

    @translating
    async def answering(self, role: str, host: str, wait: float = 1.0) -> bool:
        """Whether a service of ``role`` on ``host`` answers nats micro (a container health check)."""
        return any(r.get("name") == service_name(role) and r.get("metadata", {}).get("host") == host
                   for r in await fleet(self.nc, wait=wait))

    @translating
    async def queues(self) -> list[QueueDepth]:
        """Every engine's queue: waiting, in a worker's hands, delivered again, paused."""
        return await queue_depths(self.js)

    async def paused_engines(self) -> list[str]:
        """The engines whose synthesis is paused."""
        return [depth.engine for depth in await self.queues() if depth.paused]

    @translating
    async def pause_engines(self, engines: list[str] | None = None, duration: timedelta | None = None) -> datetime:
        """Pause synthesis for ``engines`` (all when None) for ``duration`` (until unpaused when None);
        returns when the pause ends by itself."""
        with self.traced("pause synthesis"):
            return await pause_synthesis(self.js, engines, duration)

    @translating
    async def unpause_engines(self, engines: list[str] | None = None) -> None:
        """Let synthesis continue for ``engines`` (all when None)."""
        with self.traced("unpause synthesis"):
            await resume_synthesis(self.js, engines)

    @translating
    async def drain(self, worker: str) -> list[dict[str, Any]]:
        """Ask the tts worker ``worker`` (its name, or an instance id) to finish what it holds, take no more
        and exit; returns each instance's answer (its status). ``WorkerNotFound`` if none answers.

        An instance id is asked directly (the dashboard knows it): finding the fleet first waits
        0.5 s for answers, and a busy worker's answer can come later than that."""
        if re.fullmatch(r"[A-Za-z0-9_-]+", worker):
            with self.traced("drain"), contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
                reply = await self.nc.request(control_subject("tts", worker, "drain"), b"", timeout=DRAIN_TIMEOUT_S)
                return [_status(reply.data)]
        targets = guards.drain_targets(await fleet(self.nc), worker)
        if not targets:
            raise WorkerNotFound(f"no tts worker named {worker!r} answers (see `audiobook workers`)")
        answers = []
        with self.traced("drain"):
            for target in targets:
                reply = await self.nc.request(control_subject("tts", str(target["id"]), "drain"), b"",
                                              timeout=DRAIN_TIMEOUT_S)
                answers.append(_status(reply.data))
        return answers


def _status(data: bytes) -> dict[str, Any]:
    """A control-plane answer as a dict (empty when it is not one)."""
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}
