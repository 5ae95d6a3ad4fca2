"""No message the services publish can exceed the server's payload: measured before it is sent.

Sent anyway, the server would close the connection (the assembler used to exit, then retry one
batch forever). Here the oversized event is refused on this side, the connection stays up, and
a batch handler whose decision cannot be published gives its message up with a dead letter.
"""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from events import names
from events.types import BookWarning, JobRejected
from services.bus.consume import Decision, consume_batches
from services.bus.jobs import dead_letters
from services.bus.publish import PayloadTooLarge, publish_event
from services.testing.waiting import wait_for

HUGE = BookWarning(job_id="jhuge", warnings=tuple("w" * 1000 for _ in range(1200)))


async def test_an_event_past_the_payload_is_refused_and_the_connection_stays(js: JetStreamContext,
                                                                              client: Client) -> None:
    with pytest.raises(PayloadTooLarge, match="the server accepts up to 1,048,576 bytes"):
        await publish_event(js, HUGE)
    assert client.is_connected
    await publish_event(js, JobRejected(job_id="jsmall", reason="fine"))  # the next one goes out


async def test_a_batch_whose_decision_is_too_large_is_given_up_with_a_dead_letter(js: JetStreamContext,
                                                                                   client: Client) -> None:
    await publish_event(js, JobRejected(job_id="jone", reason="folded into something too large"))
    sub = await js.pull_subscribe(names.all_events_filter(), durable="oversized", stream=names.EVENTS_STREAM)
    stop = asyncio.Event()

    async def handle(msgs: list) -> Decision:  # type: ignore[type-arg]
        return Decision([HUGE])

    loop = asyncio.create_task(consume_batches(js, sub, handle, stop, stage="assemble", destination="test"))
    try:
        count, letters = await wait_for(lambda: _letters(js), timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    assert count == 1 and "would be" in letters[0].reason and letters[0].stage == "assemble"
    assert client.is_connected


async def _letters(js: JetStreamContext):  # type: ignore[no-untyped-def]
    count, letters = await dead_letters(js)
    return (count, letters) if count else None
