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
import time
from collections.abc import Sequence
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.checking import AUTO, automatic
from events.codec import DecodeError, decode_event, encode
from events.errors import PermanentError
from events.projection import RUNNING, JobState, JobStatus, apply
from events.requests import (
    ConvertRequest,
    RequestError,
    job_id_for,
    parse_request,
    parse_stop,
    priority_refusal,
    request_ref,
    retake_refusal,
    stop_refusal,
)
from events.roles import ROLES
from events.tickets import signed
from events.types import BookParsed, Event, JobAccepted, JobCancelled, JobPaused
from services.bus.consume import TRANSIENT, Consumer, Decision, Policy
from services.bus.control import ControlPlane, ServiceState, fleet, status_of
from services.bus.jobs import queued_segments, rebuild_state, segment_verdicts
from services.bus.publish import Command, last_event
from services.bus.stopping import stop_job
from services.bus.topology import object_store
from services.bus.tracing import annotate, timed_span
from services.parse import admission, decide
from services.parse.formats import source_suffix
from services.parse.lexicon import Entry, parse_lexicon
from services.parse.limits import BookLimits, BookTooBig
from services.parse.plan import JobPlan, plan_bytes
from services.parse.reading import ReadingTask, read_and_plan
from services.parse.release import Releaser
from services.parse.sandbox import ChildLimits, run_limited, warm_up
from services.parse.source import LocalSource, fetch_source
from services.parse.speaker import fetch_speaker
from services.scratch import scratch_folder
from services.settings import Settings
from services.voices import (
    check_requested_voice,
)

log = logging.getLogger(__name__)
CONCURRENT_REQUESTS = 4  # big books being read do not keep the next request waiting
FLEET_TTL_S, FLEET_WAIT_S = 60.0, 0.3  # how often, and how long, "auto" asks which check workers have a GPU
MAX_EVENT_BYTES = 900 * 1024  # under the server's 1 MiB message limit, with room for headers


class ParseService:
    """Consumes convert requests; every outcome is an event, never an exception to the loop."""

    def __init__(self, js: JetStreamContext, store: ObjectStore, uploads: ObjectStore, settings: Settings,
                 nc: Client | None, audio: ObjectStore) -> None:
        self.js, self.store, self.uploads, self.settings, self.nc = js, store, uploads, settings, nc
        self.audio = audio  # takes and reference recordings (names.AUDIO_BUCKET)
        self.requests = 0  # requests answered by this process
        self._gpu_checkers: tuple[float, int] | None = None  # (when asked, check workers with a GPU)
        self.limits = BookLimits.from_settings(settings)
        self._user_stores: dict[str, ObjectStore] = {}  # named users' own stores, by user
        self.rate = admission.RequestRate(settings.user_requests_per_minute)  # named users' requests a minute
        # queues jobs' next commands as they go
        self.releaser = Releaser(js, store, settings.release_window, settings.command_key)
        self.child_limits = ChildLimits(memory_bytes=settings.max_parse_bytes, cpu_s=settings.max_parse_s,
                                        wall_s=settings.max_parse_s)

    @classmethod
    async def create(cls, js: JetStreamContext, settings: Settings, nc: Client | None = None) -> ParseService:
        return cls(js, await object_store(js), await object_store(js, names.UPLOADS_BUCKET), settings, nc,
                   await object_store(js, names.AUDIO_BUCKET))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(warm_up)  # the readers' fork server, started before the first book
        sub = await self.js.pull_subscribe_bind(durable=names.PARSE_CONSUMER, stream=names.REQUESTS_STREAM)
        # the parse consumer waits twice the setting (topology.consumer_configs)
        policy = Policy.for_ack_wait(2 * self.settings.ack_wait_s, self.settings.max_deliver, most=15.0)
        consumer = Consumer(self.js, sub, self.handle, stage="parse", policy=policy, give_up=self.give_up,
                            in_hand=lambda: CONCURRENT_REQUESTS)
        control = ControlPlane("parse", self.settings.worker_name, lambda: {
            "state": ServiceState.of(bool(consumer.held)), "in_hand": len(consumer.held), "requests": self.requests})
        if self.nc is not None:
            await control.start(self.nc)
        log.info("parse service ready")
        try:
            await asyncio.gather(consumer.run(stop), self.releaser.run(stop))
        finally:
            await control.stop()

    async def _policy(self, policy: str) -> str:
        """The check policy a book is planned with: ``auto`` is ``all`` while a check worker with a GPU
        answers, else a sample (asked of the fleet at most once a minute)."""
        if policy != AUTO:
            return policy
        now = time.monotonic()
        if self._gpu_checkers is None or now - self._gpu_checkers[0] > FLEET_TTL_S:
            found = await fleet(self.nc, FLEET_WAIT_S) if self.nc is not None else []
            gpus = sum(1 for reply in found if reply.get("name") == names.service_name("check")
                       and str(status_of(reply).get("device", "")).startswith("cuda"))
            self._gpu_checkers = (now, gpus)
        return automatic(self._gpu_checkers[1])

    def give_up(self, msg: Msg, reason: str) -> Sequence[Event]:
        """A request that keeps failing is answered too, under its request reference."""
        return [decide.rejected(request_ref(msg.data, _owner(msg)), f"could not process the request: {reason}", None,
                                msg.metadata.sequence.stream)]

    async def handle(self, msg: Msg) -> Decision:
        """Decide what one request publishes."""
        owner = _owner(msg)
        seq, ref = msg.metadata.sequence.stream, request_ref(msg.data, owner)
        annotate({"audiobook.request_ref": ref, **({"audiobook.user": owner} if owner else {})})
        self.requests += 1
        if owner is not None and not self.rate.admit(owner, time.monotonic()):  # before anything is read
            refusal = admission.rate_refusal(owner, self.rate.per_minute)
            log.warning("rejected request %s: %s", ref, refusal)
            return Decision([decide.rejected(ref, refusal, None, seq)])
        if names.is_stop(msg.subject):
            return await self._stop(owner, msg.data, ref, seq)
        request: ConvertRequest | None = None
        try:
            uploads = await self._uploads_of(owner)
            request = parse_request(msg.data)
            check_requested_voice(request, self.settings.voice_dirs)
            if refusal := priority_refusal(request.priority, self.settings.max_priority):
                raise RequestError(refusal)
            lexicon = parse_lexicon(request.lexicon or "")  # a bad line is refused before the book is fetched
        except PermanentError as exc:
            log.warning("rejected request %s: %s", ref, exc)
            return Decision([decide.rejected(ref, str(exc), request, seq)])
        with scratch_folder("parse") as tmp:
            try:
                source = await fetch_source(request, uploads, self.store, Path(tmp) / "source",
                                            None if owner else self.settings.input_dir, self.settings.max_book_bytes)
                speaker = (await fetch_speaker(request.speaker_object, uploads, self.audio, self.store)
                           if request.speaker_object else None)
            except PermanentError as exc:
                log.warning("rejected request %s: %s", ref, exc)
                return Decision([decide.rejected(ref, str(exc), request, seq)])
            return await self._accept(request, source, seq, speaker, lexicon, owner, uploads)

    async def _stop(self, owner: str | None, raw: bytes, ref: str, seq: int) -> Decision:
        """A named user cancels or pauses one of their own jobs: the stop on its log, its queue dropped
        (as ``audiobook cancel`` does for the operator); anything else is answered under the request's
        reference."""
        try:
            stop = parse_stop(raw)
            if owner is None or names.owner_of(stop.job_id) != owner:
                raise RequestError(f"job {stop.job_id!r} is not one of yours")
            state = await rebuild_state(self.js, stop.job_id)
            if not state.status:
                raise RequestError(f"no job {stop.job_id!r} (see `audiobook status`)")
            if refusal := stop_refusal(state, stop.pause):
                raise RequestError(refusal)
        except RequestError as exc:
            log.warning("rejected stop request %s: %s", ref, exc)
            return Decision([decide.rejected(ref, str(exc), None, seq)])
        reason = stop.reason or f"{'paused' if stop.pause else 'cancelled'} by {owner}"
        event = (JobPaused if stop.pause else JobCancelled)(job_id=stop.job_id, reason=reason,
                                                             generation=state.generation)
        dropped = await stop_job(self.js, event)
        log.info("job %s %s by its user (%d queued segments dropped)", stop.job_id, event.KIND, dropped)
        return Decision()

    async def _running_jobs(self, owner: str, job_id: str) -> list[tuple[str, JobState]]:
        """``owner``'s other jobs that run now (not paused, cancelled or finished: their checkpoints,
        and their last stop, as the release loop reads them)."""
        running = []
        for job in [j for j in self.releaser.running if j != job_id and names.owner_of(j) == owner]:
            state = await self.releaser.state_of(job)
            if state.status in RUNNING and not await self.releaser.is_stopped(job):
                running.append((job, state))
        return running

    async def _queued_hours(self, running: list[tuple[str, JobState]]) -> float:
        """Hours of audio the ``running`` jobs have still to make (each book's estimate, from its
        ``book.parsed``, times the share of its segments not done)."""
        hours = 0.0
        for job, state in running:
            parsed = await last_event(self.js, job, BookParsed.KIND)
            try:
                book = decode_event(parsed) if parsed is not None else None
            except DecodeError:
                continue
            if isinstance(book, BookParsed):
                hours += admission.remaining_hours(book, state.done_segments, state.speed)
        return hours

    async def _uploads_of(self, owner: str | None) -> ObjectStore:
        """Where a request's uploads are: the shared ``uploads`` store, or a named user's own store."""
        if owner is None:
            return self.uploads
        if owner not in self._user_stores:
            try:
                self._user_stores[owner] = await self.js.object_store(names.user_bucket(owner))
            except (BucketNotFoundError, NotFoundError):
                raise RequestError(f"user {owner!r} has no object store on this stack: the operator adds "
                                   f"users with `audiobook user add {owner}`") from None
        return self._user_stores[owner]

    async def _accept(self, request: ConvertRequest, source: LocalSource, seq: int, speaker: str | None,
                      lexicon: tuple[Entry, ...] = (), owner: str | None = None,
                      uploads: ObjectStore | None = None) -> Decision:
        job_id = job_id_for(source.sha256, request.engine, request.voice, request.speed, request.language, speaker,
                            request.chapters, request.pauses, request.lexicon, request.read_along, owner)
        annotate({"audiobook.job_id": job_id})
        state = await rebuild_state(self.js, job_id)
        if request.retake:
            return await self._retake(request, source, job_id, state, seq, speaker, lexicon)
        if owner is not None and state.status != JobStatus.COMPLETED and (refusal := admission.jobs_refusal(
                owner, len(await self._running_jobs(owner, job_id)), self.settings.user_max_jobs)):
            log.warning("rejected request %s: %s", job_id, refusal)
            return Decision([decide.rejected(job_id, refusal, request, seq)])
        stored = names.source_object(source.sha256, source_suffix(source.path, source.name))
        if decide.keeps_source_copy(state, await self._kept(stored)):
            with open(source.path, "rb") as handle:
                await self.store.put(stored, handle)
        accepted = JobAccepted(
            job_id=job_id, source_sha256=source.sha256, source_name=source.name, source_object=stored,
            engine=request.engine or "", voice=request.voice or "", speed=request.speed,
            request_id=request.request_id, request_seq=seq, language=request.language or "",
            speaker_sha256=speaker or "", chapters=request.chapters or "",
            pauses=request.pauses or "", lexicon=request.lexicon or "",
            check=request.check or "", read_along=request.read_along, priority=request.priority or "",
        )
        if state.status == JobStatus.COMPLETED:
            log.info("job %s is already complete: %s", job_id, state.output_object)
            return Decision([accepted])

        generation, resumed = decide.continuation(state)
        try:
            plan = await self._read_and_plan(source, job_id, request, state, generation, speaker, lexicon,
                                             await self._policy(request.check or self.settings.check))
        except TRANSIENT:
            raise  # the server, not the book: the kit retries the request
        except PermanentError as exc:
            return await self._reject_book(accepted, str(exc), request, seq, uploads)
        except Exception as exc:  # a parser bug on odd input must not stop the service
            log.exception("job %s: unexpected error reading %s", job_id, source.name)
            return await self._reject_book(accepted, f"could not read the ebook ({type(exc).__name__}: {exc})",
                                           request, seq, uploads)
        book_hours = admission.remaining_hours(plan.parsed, state.done_segments, request.speed)
        if owner is not None and (refusal := admission.hours_refusal(
                owner, await self._queued_hours(await self._running_jobs(owner, job_id)), book_hours,
                self.settings.user_max_queued_hours)):
            log.warning("rejected request %s: %s", job_id, refusal)
            return Decision([decide.rejected(job_id, refusal, request, seq)])  # (its upload stays: later, it fits)
        return Decision([accepted, *([resumed] if resumed else []), *await self._to_publish(plan, job_id, state,
                                                                                        request.priority or "")])

    async def _retake(self, request: ConvertRequest, source: LocalSource, job_id: str, state: JobState, seq: int,
                      speaker: str | None, lexicon: tuple[Entry, ...]) -> Decision:
        """New takes of some segments of a completed book: the job reopens in a new generation,
        they are queued at takes of their own (never the cached audio), and the book is built again."""
        again = decide.retake_under_way(state, request.retake)
        refusal = "" if again else retake_refusal(state, request.retake)
        if not refusal:
            try:
                plan = await self._read_and_plan(source, job_id, request, state, state.generation + int(not again),
                                                 speaker, lexicon, state.check or "off")
            except TRANSIENT:
                raise
            except Exception as exc:  # the book read once; whatever stops it now is said, not raised
                refusal = f"the book could not be read again ({type(exc).__name__}: {exc})"
            else:
                if [c.segments for c in plan.parsed.chapters] != [c.total for c in state.chapters]:
                    refusal = "this release divides the book differently from the finished one: convert it again"
        if refusal:
            log.warning("job %s: retake refused: %s", job_id, refusal)
            return Decision([decide.rejected(job_id, refusal, request, seq)])
        reopened = None if again else decide.reopening(state, await self._new_takes(job_id, state, plan,
                                                                                     request.retake))
        if reopened is not None:
            state = apply(state, reopened)
        heard_in = plan.parsed.language if state.check else ""
        todo = decide.to_queue(decide.with_takes(plan.jobs, state, heard_in), state,
                               await queued_segments(self.js, job_id))
        log.info("job %s %s generation %d: new takes of %s", job_id, "reopened in" if reopened else "still making",
                 state.generation, ", ".join(f"{c + 1}.{i + 1} (take {state.chapters[c].asked[i] + 1})"
                                             for c, i in request.retake))
        return Decision([*([reopened] if reopened else []), *self._signed(todo)])

    async def _new_takes(self, job_id: str, state: JobState, plan: JobPlan,
                         positions: tuple[tuple[int, int], ...]) -> dict[tuple[int, int], int]:
        """The take each retaken position gets: past every take of it so far, in this book or another's."""
        keys = {position: job.cache_key for _, job in plan.jobs for position in job.positions()}
        asked = {(v.chapter, v.index): v.take + int(v.retake) for v in await segment_verdicts(self.js, job_id)}
        takes: dict[tuple[int, int], int] = {}
        for position in positions:
            take = decide.next_take(state, position, asked.get(position, 0))
            while await self._kept(names.take_object(keys[position], take), self.audio, self.store):
                # another book's take of this text (kept before audio had a bucket of its own, too)
                take += 1
            takes[position] = take
        return takes

    def _signed(self, commands: list[Command]) -> list[Command]:
        """Each command with its positions' tickets (events.tickets), so workers can report them."""
        return [(subject, signed(job, self.settings.command_key)) for subject, job in commands]

    async def _kept(self, name: str, *stores: ObjectStore) -> bool:
        """Whether object ``name`` is in any of ``stores`` (default: the services' store)."""
        for store in stores or (self.store,):
            try:
                await store.get_info(name)
            except ObjectNotFoundError:
                continue
            return True
        return False

    async def _reject_book(self, accepted: JobAccepted, reason: str, request: ConvertRequest, seq: int,
                           uploads: ObjectStore | None = None) -> Decision:
        """A book that cannot be converted: its source leaves the store, its request gets the reason."""
        log.warning("job %s rejected: %s", accepted.job_id, reason)
        await _forget(self.store, accepted.source_object)
        if request.source_object:
            await _forget(uploads or self.uploads, request.source_object)
        return Decision([accepted, decide.rejected(accepted.job_id, reason, request, seq)])

    async def _read_and_plan(self, source: LocalSource, job_id: str, request: ConvertRequest, state: JobState,
                             generation: int, speaker: str | None = None,
                             lexicon: tuple[Entry, ...] = (), check: str = "") -> JobPlan:
        """Read and plan the book in a limited child process; store its cover; trace its steps."""
        task = ReadingTask(source.path, source.name, job_id, request, state, generation, self.limits,
                           self.settings.voice_dirs, self.settings.max_segment_chars, speaker, lexicon, check)
        reading = await run_limited(read_and_plan, task, self.child_limits)
        for step, start_ns, end_ns in reading.steps:
            timed_span(step, start_ns, end_ns, {"audiobook.job_id": job_id})
        if reading.language_note:
            log.info("%s", reading.language_note)
        plan = reading.plan
        if reading.cover is not None and plan.parsed.cover_object:
            await self.store.put(plan.parsed.cover_object, reading.cover.data)
        if plan.text_map:  # the same bytes however often the book is planned
            await self.store.put(names.text_object(job_id), plan.text_map)
        if reading.read_along is not None:
            text = reading.read_along
            await self.store.put(names.read_along_text_object(job_id), text.epub)
            log.info("job %s: read-along text (%s): %d of %d sentences marked, %d of them in part", job_id,
                     "the book's own EPUB 3" if text.original else "an EPUB 3 of its chapters", text.marked,
                     text.sentences, text.partial)
        if len(encode(plan.parsed)) > MAX_EVENT_BYTES:
            raise BookTooBig(f"the book's table of contents is too large to announce ({len(plan.parsed.chapters):,} "
                             "chapters with long titles)")
        return plan

    async def _to_publish(self, plan: JobPlan, job_id: str, state: JobState,
                          priority: str = "") -> list[Event | Command]:
        """``book.parsed`` and every segment job not yet done or queued."""
        book = plan.parsed
        queued = await queued_segments(self.js, job_id)
        heard_in = book.language if book.check else ""
        todo = self._signed(decide.queue_plan(decide.with_takes(plan.jobs, state, heard_in), state, queued))
        # the rest is released as the job's segments land (services.parse.release); the plan goes first
        await self.store.put(names.plan_object(job_id), plan_bytes(job_id, todo[0][1].generation if todo else 0, todo))
        self.releaser.running[job_id] = book.engine  # (a job of a user with many may get no window yet)
        window = decide.release_window(await self.releaser.fleet_slots(book.engine), self.settings.release_window,
                                       priority, decide.owners_share(job_id, self.releaser.sharing(book.engine)))
        first = todo[:max(0, window - len(queued))]
        log.info("job %s: %s, %d chapters, %d segments (%d distinct), %d to queue (%d now; %d already queued)",
                 job_id, book.title, len(book.chapters), book.total_segments, len(plan.jobs), len(todo), len(first),
                 len(queued))
        return [*([plan.warning] if plan.warning else []), plan.parsed, *first]


async def _forget(store: ObjectStore, name: str) -> None:
    """Remove a rejected book's source; best effort: the rejection is the answer, not the clean-up."""
    try:
        await store.delete(name)
    except (ObjectNotFoundError, NotFoundError):
        pass
    except TRANSIENT as exc:
        log.warning("could not remove the rejected source %s: %s", name, exc)


def _owner(msg: Msg) -> str | None:
    """The named user who sent a request (its subject says: only they may publish there), or None."""
    user = names.requester(msg.subject)
    return None if user is None or names.user_name_refusal(user, ROLES) else user

