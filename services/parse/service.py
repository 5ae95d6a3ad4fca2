"""Parse service adapter: convert.request -> job accepted, book parsed, one job per segment.

The handler gathers what the decisions need (the request, the source, the job's folded
state, the queue) and returns the events and commands to publish; the kit's consume loop
publishes them in order and acks the request only then. Every outcome is an event: a request
that cannot be converted gets a ``job.rejected`` with its reason, and so does one that keeps
failing for other reasons, once the delivery limit is reached.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from events.projection import COMPLETED, JobState
from events.requests import ConvertRequest, job_id_for, parse_request, request_ref
from events.types import Event, JobAccepted
from services.bus.consume import Consumer, Decision, Policy
from services.bus.jobs import queued_segments, rebuild_state
from services.bus.publish import Command
from services.bus.topology import object_store
from services.parse import decide
from services.parse.book import Book
from services.parse.epub import read_epub
from services.parse.plan import plan_job
from services.parse.source import LocalSource, fetch_source
from services.settings import Settings
from services.voices import VoiceInfo, resolve_voice

log = logging.getLogger(__name__)
PARALLEL_CHARS = 200_000  # books longer than this are split into sentences on every core


class ParseService:
    """Consumes convert requests; every outcome is an event, never an exception to the loop."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, settings: Settings) -> None:
        self.js, self.store, self.settings = js, store, settings
        self._splitters: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor | None:
        """Processes for sentence splitting, started on the first big book (spawned: no forked locks)."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if cores < 2:
            return None
        if self._splitters is None:
            self._splitters = ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"))
        return self._splitters

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings) -> ParseService:
        return cls(js, await object_store(js), settings)

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.js.pull_subscribe_bind(durable=names.PARSE_CONSUMER, stream=names.REQUESTS_STREAM)
        policy = Policy(max_deliver=self.settings.max_deliver, heartbeat_s=min(15.0, self.settings.ack_wait_s / 2))
        log.info("parse service ready")
        try:
            await Consumer(self.js, sub, self.handle, stage="parse", policy=policy, give_up=self.give_up).run(stop)
        finally:
            if self._splitters is not None:
                self._splitters.shutdown(wait=False, cancel_futures=True)

    def give_up(self, msg: Msg, reason: str) -> Sequence[Event]:
        """A request that keeps failing is answered too, under its request reference."""
        return [decide.rejected(request_ref(msg.data), f"could not process the request: {reason}", None,
                                msg.metadata.sequence.stream)]

    async def handle(self, msg: Msg) -> Decision:
        """Decide what one request publishes."""
        seq, ref = msg.metadata.sequence.stream, request_ref(msg.data)
        request: ConvertRequest | None = None
        try:
            request = parse_request(msg.data)
            voice = resolve_voice(request.engine, request.voice, self.settings.voice_dirs)
        except PermanentError as exc:
            log.warning("rejected request %s: %s", ref, exc)
            return Decision([decide.rejected(ref, str(exc), request, seq)])
        with tempfile.TemporaryDirectory(prefix="audiobook-parse-") as tmp:
            try:
                source = await fetch_source(request, self.store, Path(tmp) / "source",
                                            self.settings.input_dir, self.settings.max_book_bytes)
            except PermanentError as exc:
                log.warning("rejected request %s: %s", ref, exc)
                return Decision([decide.rejected(ref, str(exc), request, seq)])
            return await self._accept(request, voice, source, seq)

    async def _accept(self, request: ConvertRequest, voice: VoiceInfo, source: LocalSource, seq: int) -> Decision:
        job_id = job_id_for(source.sha256, voice.engine, voice.voice, request.speed)
        state = await rebuild_state(self.js, job_id)
        stored = request.source_object or names.source_object(source.sha256, ".epub")
        if decide.keeps_source_copy(request, state):
            with open(source.path, "rb") as handle:
                await self.store.put(stored, handle)
        accepted = JobAccepted(
            job_id=job_id, source_sha256=source.sha256, source_name=source.name, source_object=stored,
            engine=voice.engine, voice=voice.voice, speed=request.speed, request_id=request.request_id,
            request_seq=seq,
        )
        if state.status == COMPLETED:
            log.info("job %s is already complete: %s", job_id, state.output_object)
            return Decision([accepted])
        try:
            book = await asyncio.to_thread(read_epub, source.path, self.settings.max_book_bytes * 4)
        except PermanentError as exc:
            log.warning("job %s rejected: %s", job_id, exc)
            return Decision([accepted, decide.rejected(job_id, str(exc), request, seq)])
        except Exception as exc:  # a parser bug on odd input must not stop the service
            log.exception("job %s: unexpected error reading %s", job_id, source.name)
            reason = f"could not read the ebook ({type(exc).__name__}: {exc})"
            return Decision([accepted, decide.rejected(job_id, reason, request, seq)])
        return Decision([accepted, *await self._plan(book, job_id, voice, request.speed, state)])

    async def _plan(self, book: Book, job_id: str, voice: VoiceInfo, speed: float,
                    state: JobState) -> list[Event | Command]:
        """The resume event (if any), ``book.parsed`` and every segment job not yet done or queued."""
        cover = None
        if book.cover:
            cover = names.cover_object(job_id, book.cover.suffix)
            await self.store.put(cover, book.cover.data)
        generation, resumed = decide.continuation(state)
        pool = self._pool() if sum(len(p) for c in book.chapters for p in c.paragraphs) > PARALLEL_CHARS else None
        plan = await asyncio.to_thread(
            plan_job, book, job_id, voice, speed, self.settings.max_segment_chars, cover, generation, pool
        )
        queued = await queued_segments(self.js, job_id)
        todo = decide.to_queue(plan.jobs, state, queued)
        log.info("job %s: %s, %d chapters, %d segments (%d distinct), %d to queue now (%d already queued)",
                 job_id, book.title, len(plan.parsed.chapters), plan.parsed.total_segments, len(plan.jobs),
                 len(todo), len(queued))
        return [*([resumed] if resumed else []), plan.parsed, *todo]
