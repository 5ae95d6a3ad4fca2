"""Pause and resume synthesis, per engine or for everything: JetStream consumer pause (nats-server >= 2.11).

A paused engine's consumer hands out nothing: its workers finish what they hold, then wait;
queued segments stay queued and nothing is lost. The pause lives in the server (it survives
service restarts and outlasts this process), until its end time or until resumed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from events import names
from services.voices import LISTED_ENGINES

FOREVER = timedelta(days=3650)  # "until resumed"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def pause_synthesis(js: JetStreamContext, engines: list[str] | None = None,
                          duration: timedelta | None = None) -> datetime:
    """Pause the queues of ``engines`` (all when None) for ``duration`` (until resumed when None)."""
    until = datetime.now(UTC) + (duration or FOREVER)
    for engine in engines or LISTED_ENGINES:
        await js.pause_consumer(names.SYNTH_STREAM, names.engine_consumer(engine), rfc3339(until))
    return until


async def resume_synthesis(js: JetStreamContext, engines: list[str] | None = None) -> None:
    """Let the queues of ``engines`` (all when None) hand out work again."""
    for engine in engines or LISTED_ENGINES:
        await js.resume_consumer(names.SYNTH_STREAM, names.engine_consumer(engine))
