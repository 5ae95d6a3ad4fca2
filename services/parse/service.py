"""Parse service adapter: convert.request -> job accepted, book parsed, one job per segment."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from events import names
from events.projection import CANCELLED, COMPLETED, FAILED
from events.requests import ConvertRequest, RequestError, job_id_for, parse_request, request_ref
from events.types import JobAccepted, JobRejected, JobResumed
from services.bus import TRANSIENT, delivery_count, publish_command, publish_event, pull_loop
from services.jobstate import queued_segments, rebuild_state
from services.parse.book import EbookError
from services.parse.epub import read_epub
from services.parse.plan import plan_job
from services.parse.source import SourceError, fetch_source
from services.settings import Settings
from services.topology import object_store
from services.tracing import process_span
from services.tts.catalog import UnknownVoiceError, resolve_voice

log = logging.getLogger(__name__)
PUBLISH_WINDOW = 256
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
        log.info("parse service ready")
        try:
            await pull_loop(sub, self._handle_batch, stop)
        finally:
            if self._splitters is not None:
                self._splitters.shutdown(wait=False, cancel_futures=True)

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            with process_span(msg.subject, msg.headers):
                await self.handle(msg)

    async def _reject(self, job_id: str, reason: str, request: ConvertRequest | None, seq: int) -> None:
        log.warning("rejected %s: %s", job_id, reason)
        await publish_event(self.js, JobRejected(job_id=job_id, reason=reason, request_seq=seq,
                                                 request_id=request.request_id if request else None))

    async def handle(self, msg: Msg) -> None:
        """Handle one request; ack it only once its outcome is in the event log."""
        ref = request_ref(msg.data)
        heartbeat = asyncio.create_task(_keep_alive(msg, every=min(15.0, self.settings.ack_wait_s / 2)))
        try:
            await self._process(msg.data, ref, msg.metadata.sequence.stream)
            await msg.ack()
        except TRANSIENT as exc:
            delay = min(30.0, 2.0 * delivery_count(msg))
            log.warning("request %s: transient failure (%s); retry in %.0fs", ref, exc, delay)
            await msg.nak(delay=delay)
        finally:
            heartbeat.cancel()

    async def _process(self, raw: bytes, ref: str, seq: int) -> None:
        try:
            request = parse_request(raw)
        except RequestError as exc:
            await self._reject(ref, str(exc), None, seq)
            return
        try:
            voice = resolve_voice(request.engine, request.voice, self.settings.voice_dirs)
        except UnknownVoiceError as exc:
            await self._reject(ref, str(exc), request, seq)
            return
        with tempfile.TemporaryDirectory(prefix="audiobook-parse-") as tmp:
            try:
                source = await fetch_source(request, self.store, Path(tmp) / "source",
                                            self.settings.input_dir, self.settings.max_book_bytes)
            except SourceError as exc:
                await self._reject(ref, str(exc), request, seq)
                return
            job_id = job_id_for(source.sha256, voice.engine, voice.voice, request.speed)
            state = await rebuild_state(self.js, job_id)
            stored = request.source_object or names.source_object(source.sha256, ".epub")
            if request.source_path and state.status != COMPLETED:  # keep the source: resumable from anywhere
                with open(source.path, "rb") as handle:
                    await self.store.put(stored, handle)
            await publish_event(self.js, JobAccepted(
                job_id=job_id, source_sha256=source.sha256, source_name=source.name, source_object=stored,
                engine=voice.engine, voice=voice.voice, speed=request.speed, request_id=request.request_id,
                request_seq=seq,
            ))
            if state.status == COMPLETED:
                log.info("job %s is already complete: %s", job_id, state.output_object)
                return
            try:
                book = await asyncio.to_thread(read_epub, source.path, self.settings.max_book_bytes * 4)
            except EbookError as exc:
                await self._reject(job_id, str(exc), request, seq)
                return
            except Exception as exc:  # a parser bug on odd input must not stop the service
                log.exception("job %s: unexpected error reading %s", job_id, source.name)
                await self._reject(job_id, f"could not read the ebook ({type(exc).__name__}: {exc})", request, seq)
                return
        cover = None
        if book.cover:
            cover = names.cover_object(job_id, book.cover.suffix)
            await self.store.put(cover, book.cover.data)
        generation = state.generation
        if state.status in (FAILED, CANCELLED):  # asked again: continue with a new generation
            generation += 1
            await publish_event(self.js, JobResumed(job_id=job_id, generation=generation))
        pool = self._pool() if sum(len(p) for c in book.chapters for p in c.paragraphs) > PARALLEL_CHARS else None
        plan = await asyncio.to_thread(
            plan_job, book, job_id, voice, request.speed, self.settings.max_segment_chars, cover, generation, pool
        )
        await publish_event(self.js, plan.parsed)
        done = {(c, i) for c, chapter in enumerate(state.chapters) for i in chapter.done}
        skip = done | await queued_segments(self.js, job_id)
        todo = [(subject, job) for subject, job in plan.jobs
                if (job.chapter, job.index) not in skip and not set(job.positions()) <= done]
        for start in range(0, len(todo), PUBLISH_WINDOW):
            window = todo[start:start + PUBLISH_WINDOW]
            await asyncio.gather(*(publish_command(self.js, subject, job) for subject, job in window))
        log.info("job %s: %s, %d chapters, %d segments (%d distinct), %d queued now (%d done, %d already queued)",
                 job_id, book.title, len(plan.parsed.chapters), sum(c.segments for c in plan.parsed.chapters),
                 len(plan.jobs), len(todo), len(done), len(skip - done))


async def _keep_alive(msg: Msg, every: float = 15.0) -> None:
    """Tell JetStream we are still working on ``msg`` (parsing a big book takes a while)."""
    while True:
        await asyncio.sleep(every)
        await msg.in_progress()
