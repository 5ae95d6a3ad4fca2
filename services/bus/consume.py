"""The one pull loop: run a handler per message, then carry out what it decided.

A stage's handler returns a :class:`Decision`: the events (and synthesis commands) to publish,
and an acknowledgement outcome: :data:`ACK`, :class:`Retry` (nak after a delay) or
:class:`GiveUp` (term, with a reason). The loop publishes, then acknowledges, so a message is
only acked once its outcome is in the log. Errors are translated into outcomes in one place
(:func:`classify`): a :class:`PermanentError` gives up; a transient error, or a bug, retries
with the one backoff policy until the delivery limit, then gives up. A given-up message gets
the stage's own failure events (``give_up``), so it never vanishes silently. While a handler
runs, the loop tells JetStream it is still working (one heartbeat for every stage), and no
handler's failure can stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from events.errors import PermanentError, TransientError
from events.types import Event
from services.bus.publish import FETCH_TIMEOUTS, Command, publish_all, publish_dead_letter
from services.bus.tracing import batch_span, process_span

log = logging.getLogger(__name__)

# library errors that mean "the server or the network, not this message": worth retrying
TRANSIENT = (asyncio.TimeoutError, nats.errors.Error, ConnectionError, TransientError)
# ... except these: the same message fails the same way every time (too large for the server)
PERMANENT = (PermanentError, nats.errors.MaxPayloadError)
CLOSED = (nats.errors.ConnectionClosedError, nats.errors.NoServersError)


@dataclass(frozen=True)
class Ack:
    """The message is done with."""


@dataclass(frozen=True)
class Retry:
    """Try again after ``delay`` seconds (None: the backoff policy for this delivery)."""

    reason: str
    delay: float | None = None


@dataclass(frozen=True)
class GiveUp:
    """Never try again (term); ``reason`` says why, for a person."""

    reason: str


Outcome = Ack | Retry | GiveUp
ACK = Ack()


@dataclass(frozen=True)
class Decision:
    """What a handler decided: publish these (in order), then acknowledge with ``outcome``."""

    publish: Sequence[Event | Command] = ()
    outcome: Outcome = ACK


Handler = Callable[[Msg], Awaitable[Decision]]
GiveUpEvents = Callable[[Msg, str], Sequence[Event]]


@dataclass(frozen=True)
class Policy:
    """How a stage's messages are retried and kept alive."""

    max_deliver: int = 5
    heartbeat_s: float = 5.0  # in-progress acks while a handler runs
    max_backoff_s: float = 30.0

    @classmethod
    def for_ack_wait(cls, ack_wait_s: float, max_deliver: int, most: float = 5.0) -> Policy:
        """A policy whose first in-progress ack comes well inside the consumer's ``ack_wait_s``
        (the heartbeat looks every half beat, so a held message is kept alive by 1.5 beats)."""
        return cls(max_deliver=max_deliver, heartbeat_s=min(most, ack_wait_s / 3))


def backoff(delivery: int, ceiling: float = 30.0) -> float:
    """The one redelivery delay: 2, 4, 8, 16 ... seconds, at most ``ceiling`` (pure)."""
    return float(min(ceiling, 2.0 ** max(1, delivery)))


def delivery_count(msg: Msg) -> int:
    meta: Any = msg.metadata
    return int(meta.num_delivered or 1)


def classify(exc: BaseException, delivery: int, policy: Policy) -> Retry | GiveUp:
    """The outcome for a handler that raised ``exc`` on its ``delivery``-th delivery (pure)."""
    if isinstance(exc, PermanentError):
        return GiveUp(str(exc))
    if isinstance(exc, nats.errors.MaxPayloadError):
        return GiveUp("a message to publish is larger than the server accepts")
    if isinstance(exc, TRANSIENT):
        reason = str(exc) or type(exc).__name__
    else:  # a bug on odd input: bounded retries, then a report, never a dead service
        reason = f"internal error ({type(exc).__name__}: {exc})"
    if delivery >= policy.max_deliver:
        return GiveUp(f"gave up after {delivery} attempts: {reason}")
    return Retry(reason, backoff(delivery, policy.max_backoff_s))


async def fetched(fetch: Awaitable[list[Msg]], stop: asyncio.Event) -> list[Msg]:
    """The messages of one fetch; none on a timeout, or while the server restarts (after a pause).

    A closed connection is re-raised unless the service is stopping.
    """
    try:
        return await fetch
    except FETCH_TIMEOUTS:
        return []
    except CLOSED:
        if stop.is_set():
            return []
        raise
    except nats.errors.Error as exc:  # server unavailable mid-restart: wait and retry
        log.warning("fetch failed (%s); retrying", exc)
        await asyncio.sleep(0.5)
        return []


async def settle(js: JetStreamContext, msg: Msg, decision: Decision, stage: str) -> None:
    """Publish what was decided, then acknowledge accordingly; a message given up on is
    recorded as a dead letter of ``stage`` (``audiobook status`` lists them)."""
    await publish_all(js, decision.publish)
    outcome = decision.outcome
    if isinstance(outcome, Retry):
        await msg.nak(delay=outcome.delay if outcome.delay is not None else backoff(delivery_count(msg)))
    elif isinstance(outcome, GiveUp):
        await publish_dead_letter(js, stage, msg, outcome.reason)
        await msg.term()
    else:
        await msg.ack()


class Consumer:
    """Runs one stage's handler over a durable pull consumer, ``in_hand()`` messages at a time."""

    def __init__(
        self, js: JetStreamContext, sub: JetStreamContext.PullSubscription, handle: Handler, *, stage: str,
        policy: Policy = Policy(), give_up: GiveUpEvents | None = None,
        in_hand: Callable[[], int] = lambda: 1, attributes: dict[str, str] | None = None,
        recheck: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.js, self.sub, self.handle, self.policy, self.stage = js, sub, handle, policy, stage
        self.give_up, self.in_hand = give_up, in_hand
        self.recheck = recheck  # with a full hand: seconds until ``in_hand()`` may say more (None: never by itself)
        self.attributes = attributes or {}
        self.held: dict[int, tuple[Msg, float]] = {}  # id -> a message being handled, and since when
        self.draining = False  # take no more messages; run() returns once those in hand are done

    def drain(self) -> None:
        """Finish the messages in hand, fetch no more, then return from ``run``."""
        self.draining = True

    async def heartbeat(self) -> None:
        """The one heartbeat: every message held longer than ``heartbeat_s`` gets an in-progress ack."""
        every = self.policy.heartbeat_s
        while True:
            await asyncio.sleep(every / 2)
            due = asyncio.get_running_loop().time() - every
            for key, (msg, since) in [(k, v) for k, v in self.held.items() if v[1] <= due]:
                with contextlib.suppress(*TRANSIENT):
                    await msg.in_progress()
                if key in self.held:
                    self.held[key] = (msg, since + every)

    async def decide(self, msg: Msg) -> Decision:
        """The handler's decision, or the outcome its error calls for (never raises but to cancel)."""
        self.held[id(msg)] = (msg, asyncio.get_running_loop().time())
        try:
            return await self.handle(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = classify(exc, delivery_count(msg), self.policy)
            if isinstance(exc, PermanentError | TransientError | nats.errors.Error):
                log.warning("%s on %s: %s", type(outcome).__name__.lower(), msg.subject, outcome.reason)
            else:
                log.exception("unexpected error handling %s", msg.subject)
            return self.outcome_with_report(msg, outcome)
        finally:
            self.held.pop(id(msg), None)

    def outcome_with_report(self, msg: Msg, outcome: Retry | GiveUp) -> Decision:
        """The outcome, with the stage's failure events when the message is given up on."""
        events: Sequence[Event] = ()
        if isinstance(outcome, GiveUp) and self.give_up is not None:
            try:
                events = self.give_up(msg, outcome.reason)
            except Exception:  # the failure report itself failed: still never redeliver forever
                log.exception("cannot build the failure report for %s", msg.subject)
        return Decision(events, outcome)

    async def one(self, msg: Msg) -> None:
        try:
            with process_span(msg, self.stage, **self.attributes):
                try:
                    await settle(self.js, msg, await self.decide(msg), self.stage)
                except PERMANENT as exc:  # what was decided can never be published: give up, with a report
                    reason = classify(exc, delivery_count(msg), self.policy).reason
                    log.warning("giving up on %s: %s", msg.subject, reason)
                    await settle(self.js, msg, self.outcome_with_report(msg, GiveUp(reason)), self.stage)
        except TRANSIENT as exc:  # e.g. the server restarting mid-message: it will be redelivered
            log.warning("lost contact while settling %s (%s); it will be redelivered", msg.subject, exc)
        except Exception:  # publishing what was decided failed: unacked, the message comes back
            log.exception("could not settle %s; it will be redelivered", msg.subject)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # unstarted or unfinished: back to the queue at once
                await asyncio.wait_for(msg.nak(), timeout=1.0)
            raise

    async def run(self, stop: asyncio.Event, timeout: float = 1.0) -> None:
        """Keep ``in_hand()`` messages in progress until ``stop``; fetch more as they finish."""
        stopping = asyncio.create_task(stop.wait())
        heartbeat = asyncio.create_task(self.heartbeat())
        fetching: asyncio.Task[list[Msg]] | None = None
        handling: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                if self.draining and not handling and fetching is None:
                    return
                room = 0 if self.draining else self.in_hand() - len(handling)
                if room > 0 and fetching is None:
                    fetching = asyncio.create_task(self.sub.fetch(room, timeout=timeout))
                waits: set[asyncio.Future[Any]] = {stopping, *handling}
                if fetching is not None:
                    waits.add(fetching)
                recheck = self.recheck() if room <= 0 and fetching is None and not self.draining else None
                done, _ = await asyncio.wait(waits, timeout=recheck, return_when=asyncio.FIRST_COMPLETED)
                handling -= done  # type: ignore[arg-type]
                if fetching is not None and fetching in done:
                    msgs, fetching = await fetched(fetching, stop), None
                    handling.update(asyncio.create_task(self.one(m)) for m in msgs)
        finally:
            stopping.cancel()
            heartbeat.cancel()
            for task in handling:
                task.cancel()
            if fetching is not None:
                fetching.cancel()
                handling.add(fetching)  # type: ignore[arg-type]  # awaited below: its error is retrieved
            await asyncio.gather(*handling, return_exceptions=True)


BatchHandler = Callable[[list[Msg]], Awaitable[Decision]]


async def consume_batches(
    js: JetStreamContext, sub: JetStreamContext.PullSubscription, handle: BatchHandler, stop: asyncio.Event, *,
    stage: str, destination: str, batch: int = 256, timeout: float = 0.5,
) -> None:
    """Fetch up to ``batch`` messages at a time; one decision (and outcome) for the whole batch.

    For handlers that fold many small events (the assembler's checkpoints). A lost connection
    retries the batch after a second. Any other error is a message the handler cannot take:
    the batch is handled again one message at a time, and only that message is given up on.
    """
    while not stop.is_set():
        msgs = await fetched(sub.fetch(batch, timeout=timeout), stop)
        if msgs:
            with batch_span(msgs, stage, destination):
                await _handle_batch(js, msgs, handle, stage)


async def _handle_batch(js: JetStreamContext, msgs: list[Msg], handle: BatchHandler, stage: str) -> None:
    decision: Decision | None
    try:
        decision = await handle(msgs)
    except PERMANENT as exc:
        decision = await _alone_or_given_up(js, msgs, handle, stage, exc)
    except TRANSIENT as exc:
        log.warning("lost contact while handling %d message(s) (%s); retrying", len(msgs), exc)
        decision = Decision(outcome=Retry(str(exc), 1.0))
    except Exception as exc:
        decision = await _alone_or_given_up(js, msgs, handle, stage, exc)
    if decision is None:
        return
    try:
        await publish_all(js, decision.publish)
        await asyncio.gather(*(settle(js, m, Decision(outcome=decision.outcome), stage) for m in msgs))
    except PERMANENT as exc:  # what was decided can never be published
        given_up = await _alone_or_given_up(js, msgs, handle, stage, exc)
        if given_up is not None:
            await settle(js, msgs[0], given_up, stage)
    except TRANSIENT as exc:
        log.warning("lost contact while settling %d message(s) (%s); continuing", len(msgs), exc)
        await asyncio.sleep(0.5)


async def _alone_or_given_up(js: JetStreamContext, msgs: list[Msg], handle: BatchHandler, stage: str,
                             exc: Exception) -> Decision | None:
    """A batch that failed for good: each message handled on its own (None), or one given up on."""
    if len(msgs) > 1:
        for msg in msgs:  # find the one it cannot take
            await _handle_batch(js, [msg], handle, stage)
        return None
    if isinstance(exc, PERMANENT):
        reason = classify(exc, 1, Policy()).reason
        log.warning("giving up on %s: %s", msgs[0].subject, reason)
    else:
        reason = f"internal error ({type(exc).__name__}: {exc})"
        log.exception("giving up on %s", msgs[0].subject)
    return Decision(outcome=GiveUp(reason))
