"""Check worker adapter: hear each segment marked for checking, publish ``segment.checked``.

A durable consumer on the job events (``segment.synthesized`` only) shared by any number of
check workers. A segment whose event carries a :class:`CheckOrder` is fetched from the object
store, heard by Whisper on the worker's one listener thread, judged (:mod:`judge`), and its
verdict published with a deterministic id: a redelivered segment is heard again, its verdict
is a no-op. Audio that cannot be fetched or decoded is flagged with that reason, never crashed
on. The model loads on the first segment to check, so a worker that checks nothing costs little.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.audio import StoredAudio
from events.types import (
    CHECK_RUNS,
    CHECK_TEXT_CHARS,
    CheckOrder,
    Event,
    SegmentChecked,
    SegmentSynthesized,
    SynthesizeSegment,
)
from services.bus.consume import Consumer, Decision, Policy, delivery_count
from services.bus.control import ControlPlane, ServiceState
from services.bus.ephemeral import ObjectDamaged, read_audio
from services.bus.jobs import event_of
from services.bus.tracing import annotate
from services.check.hearing import UnreadableAudio, listen, load_model, packaged_model
from services.check.judge import UNHEARD, Heard, Judgement, judge
from services.settings import Settings

log = logging.getLogger(__name__)
SAME_EVERY_TAKE = frozenset({"language"})  # a voice of another language says every take wrong: no retake
REMEMBERED = 256  # verdicts kept by audio object: a duplicate or a cached segment is not heard twice


def verdict_event(event: SegmentSynthesized, order: CheckOrder, heard: Heard | None, verdict: Judgement | None,
                  reason: str, worker: str, seconds: float) -> SegmentChecked:
    """The ``segment.checked`` of a segment (pure): the verdict, or a flag with ``reason`` when
    the audio could not be heard at all (``retake`` is set once :func:`next_take` has decided)."""
    ok = verdict.ok if verdict is not None and not reason else False
    why = reason or (verdict.reason if verdict is not None else "")
    flagged = not ok
    return SegmentChecked(
        job_id=event.job_id, chapter=event.chapter, index=event.index, audio_object=event.audio_object, ok=ok,
        reason=why[:CHECK_TEXT_CHARS], words=verdict.words if verdict else 0,
        heard_words=verdict.heard_words if verdict else 0, errors=verdict.errors if verdict else 0,
        missing=tuple(run[:200] for run in verdict.missing[:CHECK_RUNS]) if verdict else (),
        extra=tuple(run[:200] for run in verdict.extra[:CHECK_RUNS]) if verdict else (),
        text=order.text[:CHECK_TEXT_CHARS] if flagged else "",
        heard=heard.text[:CHECK_TEXT_CHARS] if heard is not None and flagged else "",
        language=heard.language if heard else "", language_probability=round(heard.language_probability, 3)
        if heard else 0.0, rate=round(verdict.rate, 3) if verdict else 0.0,
        seconds=round(heard.seconds, 3) if heard else 0.0, lead_seconds=round(heard.lead_seconds, 3) if heard else 0.0,
        trail_seconds=round(heard.trail_seconds, 3) if heard else 0.0, clipped=heard.clipped if heard else 0.0,
        worker=worker, check_seconds=round(seconds, 3), take=order.take,
        rule=UNHEARD if reason else (verdict.rule if verdict is not None else ""),
    )


def next_take(event: SegmentSynthesized, checked: SegmentChecked) -> tuple[str, SynthesizeSegment] | None:
    """The command asking for another take of a flagged segment, with its subject (pure): only
    when the order allows one, and only for the position and job the event is about."""
    order = event.check
    if order is None or order.retake is None or checked.ok or checked.rule in SAME_EVERY_TAKE:
        return None
    retake = order.retake
    if (retake.job_id, retake.chapter, retake.index, retake.take) != (
            event.job_id, event.chapter, event.index, order.take + 1):
        return None  # a forged order: no retake for another job or position
    return names.synth_subject(retake.engine, retake.job_id, retake.chapter, retake.index), retake


class CheckWorker:
    def __init__(self, js: JetStreamContext, store: ObjectStore | None, settings: Settings, nc: Client | None,
                 audio: ObjectStore) -> None:
        self.js, self.store, self.settings, self.nc = js, store, settings, nc
        self.audio = audio  # the segments' audio (names.AUDIO_BUCKET)
        self.name = settings.worker_name
        self.listener = ThreadPoolExecutor(1, thread_name_prefix="listener")  # one model, one thread
        self._model: Any = None
        self.heard: OrderedDict[tuple[str, str, str], tuple[Heard, Judgement]] = OrderedDict()
        self.current: dict[int, str] = {}
        self.checked = self.flagged = 0
        self.audio_seconds = self.listen_seconds = 0.0
        self.consumer: Consumer | None = None

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> CheckWorker:
        return cls(js, None, settings, nc, await js.object_store(names.AUDIO_BUCKET))  # (the core made it)

    def status(self) -> dict[str, object]:
        return {
            "state": ServiceState.of(bool(self.current)), "current": next(iter(self.current.values()), None),
            "checked": self.checked, "flagged": self.flagged, "audio_seconds": round(self.audio_seconds, 1),
            "listen_seconds": round(self.listen_seconds, 1),
            "model": str(self.settings.check_model or "whisper-base (packaged)"),
            "model_loaded": self._model is not None,
            "device": self.settings.compute_device(),
        }

    async def run(self, stop: asyncio.Event) -> None:
        policy = Policy.for_ack_wait(self.settings.ack_wait_s, self.settings.max_deliver)
        sub = await self.js.pull_subscribe_bind(durable=names.CHECK_CONSUMER, stream=names.EVENTS_STREAM)
        self.consumer = Consumer(self.js, sub, self.handle, stage="check", policy=policy, give_up=self.give_up,
                                 attributes={"worker": self.name}, in_hand=lambda: 2)
        control = ControlPlane("check", self.name, self.status)
        if self.nc is not None:
            await control.start(self.nc)
        log.info("check worker %s ready", self.name)
        try:
            await self.consumer.run(stop)
        finally:
            await control.stop()
            self.listener.shutdown(wait=False, cancel_futures=True)

    def give_up(self, msg: Msg, reason: str) -> Sequence[Event]:
        """A segment that could not be checked at all is flagged with the reason: its book never
        waits forever for a verdict."""
        event = event_of(msg)
        if not isinstance(event, SegmentSynthesized) or event.check is None:
            return ()
        return (verdict_event(event, event.check, None, None, f"it could not be checked: {reason}", self.name,
                              0.0),)

    def _hear(self, data: bytes) -> Heard:
        """On the listener thread: the model (loaded on first use), then the audio heard."""
        if self._model is None:
            started = time.perf_counter()
            folder = self.settings.check_model or packaged_model(self.settings.data_dir)
            self._model = load_model(folder, self.settings.compute_device(), self.settings.tts_threads or 1)
            log.info("check worker %s loaded %s in %.2fs", self.name, folder, time.perf_counter() - started)
        return listen(self._model, data)

    async def handle(self, msg: Msg) -> Decision:
        event = event_of(msg)
        if not isinstance(event, SegmentSynthesized) or event.check is None:
            return Decision()  # not a segment to check (or not a segment event at all)
        order = event.check
        where = f"job {event.job_id} chapter {event.chapter} segment {event.index}"
        # the check consumer delivers a segment at most max_deliver times (services.bus.topology)
        if (tries := delivery_count(msg)) >= self.settings.max_deliver > 1:
            # every earlier delivery ended with no answer (a worker killed while hearing it, every time):
            # the last one flags it unheard, so its book does not wait for a verdict that never comes
            log.warning("%s: delivered %d times with no verdict; flagged unheard", where, tries)
            earlier = "once" if tries == 2 else f"{tries - 1} times"
            return Decision(list(self.give_up(msg, f"delivered {earlier} before with no verdict (a check worker "
                                                    "stopped on it)")))
        annotate({"audiobook.job_id": event.job_id, "audiobook.chapter": event.chapter,
                  "audiobook.index": event.index, "audiobook.worker": self.name})
        self.current[id(msg)] = where
        started = time.perf_counter()
        try:
            key = (event.audio_object, order.text, order.language)
            remembered = self.heard.get(key)
            heard: Heard | None = None
            verdict: Judgement | None = None
            reason = ""
            data: bytes | None = None
            if remembered is not None:
                heard, verdict = remembered
            else:
                try:
                    data = await read_audio(self.js, self.audio, event.audio_object, earlier=self.store)
                    heard = await asyncio.get_running_loop().run_in_executor(
                        self.listener, self._hear, data)
                    verdict = judge(order.text, order.language, heard, order.speed, order.pause_after_ms / 1000)
                    self._remember(key, heard, verdict)
                    self.audio_seconds += heard.seconds
                except ObjectNotFoundError:
                    reason = f"its audio {event.audio_object} is not in the store"
                except (ObjectDamaged, UnreadableAudio) as exc:
                    reason = f"its audio could not be heard: {exc}"
            seconds = time.perf_counter() - started
            self.listen_seconds += seconds
            checked = verdict_event(event, order, heard, verdict, reason, self.name, seconds)
            again = next_take(event, checked)
            checked = replace(checked, retake=again is not None)
            self.checked += 1
            self.flagged += int(not checked.ok)
            if not checked.ok:
                log.info("%s take %d flagged: %s%s", where, order.take + 1, checked.reason,
                         "; asking for another take" if again else "")
            elif order.take and data is not None:
                await self._promote(event, data)
            return Decision([checked, *([again] if again else [])])
        finally:
            self.current.pop(id(msg), None)

    async def _promote(self, event: SegmentSynthesized, data: bytes) -> None:
        """A retake heard fine becomes the segment's cached audio: the audio under a content key is
        the best take so far, so a later book with the same sentence gets this one."""
        name = names.first_take_object(event.audio_object)
        description = StoredAudio(event.samples, event.sample_rate, event.spans).description()  # timings kept
        await self.audio.put(name, data, meta=ObjectMeta(name=name, description=description))
        log.info("%s now holds take %d of its segment", name, event.take + 1)

    def _remember(self, key: tuple[str, str, str], heard: Heard, verdict: Judgement) -> None:
        self.heard[key] = (heard, verdict)
        if len(self.heard) > REMEMBERED:
            self.heard.popitem(last=False)
