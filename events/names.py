"""Every subject, stream, consumer, bucket and object name of the pipeline, defined once.

Subjects
    convert.request                      command: start a conversion (captured by REQUESTS)
    convert.request.<user>               the same, from a named user: their jobs are ``<user>-<id>``
    convert.stop.<user>                  a named user cancels or pauses one of their own jobs (REQUESTS)
    events.<job>.<kind>                  the event log of one job (EVENTS); in the clients' mirror
                                         (EVENTS_VIEW) a user's ``events.<user>-<id>.<kind>`` reads
                                         ``events.<user>.<id>.<kind>``, so a user's permissions can
                                         name their own jobs' events (docs/security.md)
    synth.<engine>.<job>.<ch>.<seg>      one synthesis job per segment (SYNTH, a work queue); one
                                         durable consumer per engine, so a job reaches only workers
                                         that run its engine
    audiobook.<role>.<id>.<verb>         core request/reply: one service instance's status and controls
                                         (nats micro; discovery on $SRV.PING|INFO|STATS)
    deadletter.<stage>                   a message a stage gave up on, and why (DEADLETTERS)
    $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>
                                         the server: a message it stopped delivering (kept in EXHAUSTED)
"""

from __future__ import annotations

import re

REQUEST_SUBJECT = "convert.request"
STOP_PREFIX = "convert.stop"  # convert.stop.<user>: a named user cancels or pauses one of their jobs

REQUESTS_STREAM = "REQUESTS"
EVENTS_STREAM = "EVENTS"
EVENTS_VIEW_STREAM = "EVENTS_VIEW"  # a mirror of EVENTS that clients read through consumers of their own
SYNTH_STREAM = "SYNTH"
DEAD_STREAM = "DEADLETTERS"
EXHAUSTED_STREAM = "EXHAUSTED"  # the server's max-deliveries advisories: messages no worker answered

EVENTS_PREFIX = "events"
SYNTH_PREFIX = "synth"
DEAD_PREFIX = "deadletter"

PARSE_CONSUMER = "parse"
TTS_CONSUMER = "tts"  # prefix of the per-engine consumers: tts-piper, tts-coqui, ...
# An engine is named by one subject token; which engines exist is the voice registry's to say
# (services.voices.REGISTRY, one line per engine), not the contract's.
ASSEMBLE_CONSUMER = "assemble"
CHECK_CONSUMER = "check"  # the check workers' share of the segment events
EXHAUSTED_TTS_CONSUMER = "exhausted-tts"  # tts workers answer for the synthesis commands nobody finished
RELEASE_CONSUMER = "release"  # parse releases a job's next commands as its segments land

CHECKPOINT_BUCKET = "checkpoints"
OBJECT_BUCKET = "audiobook"  # books, covers, texts, queue plans and the sources of accepted jobs (the core writes)
AUDIO_BUCKET = "audio"  # segment audio, takes and reference recordings (tts workers write: nothing else)
UPLOADS_BUCKET = "uploads"  # books clients upload for {"source": {"object": NAME}} (clients write)
CONTROL_PREFIX = "audiobook"  # nats micro endpoints of every service instance
WORKER_INBOX = "_INBOX_tts"  # a tts worker's replies come here (its role reads no other inbox)
CHECK_INBOX = "_INBOX_check"  # a check worker's, likewise
ROLE_INBOXES = {"tts": WORKER_INBOX, "check": CHECK_INBOX}  # the roles whose connections read only their own
OWNER_MARK = "-"  # a named user's job id is ``<user>-<id>``; the mirror splits the token there
USER_BUCKET_PREFIX = "user-"  # a named user's own object store: their uploads and their finished books

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def _token(value: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"not a valid subject token: {value!r}")
    return value


_USER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_JOB_LIKE = re.compile(r"^[jr][0-9a-f]{20}$")  # an unowned job id or request reference (requests.job_id_for)


def user_name_refusal(name: str, reserved: tuple[str, ...] = ()) -> str:
    """Why ``name`` cannot be a user's name ("" when it can): a lowercase token the mirror's split and
    the permissions can tell from a job id and from the roles (``reserved``)."""
    if not _USER.match(name):
        return (f"user name {name!r} must start with a lowercase letter and hold only lowercase letters, "
                "digits and underscores (at most 32)")
    if name in reserved or _JOB_LIKE.match(name):
        return f"user name {name!r} is taken by the pipeline itself; choose another"
    return ""


def request_subject(user: str | None = None) -> str:
    """Where a client asks for conversions: ``convert.request``, or a named user's own subject."""
    return REQUEST_SUBJECT if user is None else f"{REQUEST_SUBJECT}.{_token(user)}"


def user_requests_filter() -> str:
    """Every named user's requests."""
    return f"{REQUEST_SUBJECT}.*"


def stop_subject(user: str) -> str:
    """Where a named user asks for one of their jobs to be cancelled or paused (parse carries it out)."""
    return f"{STOP_PREFIX}.{_token(user)}"


def user_stops_filter() -> str:
    """Every named user's stop requests."""
    return f"{STOP_PREFIX}.*"


def requester(subject: str) -> str | None:
    """The named user a request (or stop) subject belongs to (None: the shared ``convert.request``)."""
    for prefix in (REQUEST_SUBJECT, STOP_PREFIX):
        if subject.startswith(f"{prefix}."):
            return subject[len(prefix) + 1:]
    return None


def is_stop(subject: str) -> bool:
    return subject.startswith(f"{STOP_PREFIX}.")


def owned(user: str | None, job_id: str) -> str:
    """A job id (or request reference) as ``user`` owns it: ``<user>-<id>``; unchanged for no user."""
    return job_id if user is None else f"{_token(user)}{OWNER_MARK}{job_id}"


def owner_of(job_id: str) -> str | None:
    """The named user a job belongs to, from its id (None: a job of the shared client)."""
    user, mark, _ = job_id.partition(OWNER_MARK)
    return user if mark else None


def user_bucket(user: str) -> str:
    """The object store of one named user: what they upload and their finished books."""
    return f"{USER_BUCKET_PREFIX}{_token(user)}"


def user_inbox(user: str) -> str:
    """The inbox prefix of one named user's connections (the only replies they may read)."""
    return f"_INBOX_{_token(user)}"


def viewed(subject: str) -> str:
    """A subject as the clients' mirror holds it: the job token split at each owner mark (as the
    mirror's transform, :data:`VIEW_TRANSFORM`, splits it)
    (``events.alice-jX.job.accepted`` -> ``events.alice.jX.job.accepted``; an unowned one is unchanged)."""
    head, dot, rest = subject.partition(".")
    job, dot2, tail = rest.partition(".")
    if head != EVENTS_PREFIX or not dot:
        return subject
    return f"{head}.{job.replace(OWNER_MARK, '.')}{dot2}{tail}"


def user_events_filter(user: str) -> str:
    """Every event of one named user's jobs, as the clients' mirror holds them."""
    return f"{EVENTS_PREFIX}.{_token(user)}.>"


VIEW_TRANSFORM = (f"{EVENTS_PREFIX}.*.>", f"{EVENTS_PREFIX}.{{{{split(1,{OWNER_MARK})}}}}.>")  # (source, dest)


def event_subject(job_id: str, kind: str) -> str:
    """Subject of one event of a job, e.g. ``events.<job>.segment.synthesized``."""
    return f"{EVENTS_PREFIX}.{_token(job_id)}.{kind}"


def job_events_filter(job_id: str) -> str:
    """Filter that selects every event of one job."""
    return f"{EVENTS_PREFIX}.{_token(job_id)}.>"


def all_events_filter() -> str:
    return f"{EVENTS_PREFIX}.>"


def segment_events_filter() -> str:
    """Every job's segment events (synthesized, failed, checked)."""
    return f"{EVENTS_PREFIX}.*.segment.*"


def synth_subject(engine: str, job_id: str, chapter: int, segment: int) -> str:
    """Subject of the synthesis job for one segment, on its engine's queue."""
    return f"{SYNTH_PREFIX}.{_token(engine)}.{_token(job_id)}.{chapter}.{segment}"


def synthesized_filter() -> str:
    """Filter of every job's ``segment.synthesized`` events: what the check workers hear."""
    return f"{EVENTS_PREFIX}.*.segment.synthesized"


def all_synth_filter() -> str:
    return f"{SYNTH_PREFIX}.>"


def engine_synth_filter(engine: str) -> str:
    """Filter of one engine's synthesis jobs: what its workers' consumer delivers."""
    return f"{SYNTH_PREFIX}.{_token(engine)}.>"


def engine_consumer(engine: str) -> str:
    """The durable consumer that the workers of one engine share."""
    return f"{TTS_CONSUMER}-{_token(engine)}"


def job_synth_filter(job_id: str) -> str:
    """Filter that selects every queued synthesis job of one job (whatever its engine)."""
    return f"{SYNTH_PREFIX}.*.{_token(job_id)}.>"


def synth_position(subject: str, job_id: str) -> tuple[int, int] | None:
    """(chapter, index) of a synthesis subject of ``job_id``; None for anything malformed."""
    head, _, rest = subject.partition(".")
    engine, _, rest = rest.partition(".")
    prefix = f"{job_id}."
    if head != SYNTH_PREFIX or not _TOKEN.match(engine) or not rest.startswith(prefix):
        return None
    chapter, _, index = rest[len(prefix):].partition(".")
    if not (chapter.isdigit() and index.isdigit() and chapter.isascii() and index.isascii()):
        return None
    return int(chapter), int(index)


def source_object(sha256: str, suffix: str) -> str:
    """Object name of an uploaded source ebook (content-addressed)."""
    return f"sources/{sha256}{suffix}"


SPEAKERS_PREFIX = "speakers/"  # reference recordings kept by the services, by content


def speaker_object(sha256: str) -> str:
    """Object name of a reference recording a cloning voice speaks as (content-addressed)."""
    return f"{SPEAKERS_PREFIX}{_token(sha256)}.wav"


AUDIO_PREFIX = "audio/"  # segment audio and its takes (in AUDIO_BUCKET)


def audio_object(cache_key: str) -> str:
    """Object name of one segment's audio, AAC in ADTS (content-addressed by the synthesis cache key)."""
    return f"{AUDIO_PREFIX}{cache_key}.aac"


def take_object(cache_key: str, take: int) -> str:
    """Object name of a retake of one segment's audio (the first take is :func:`audio_object`)."""
    return audio_object(cache_key) if take == 0 else f"audio/{cache_key}.take{take}.aac"


def first_take_object(name: str) -> str:
    """The content-addressed object of a take's audio (``audio/K.take2.aac`` -> ``audio/K.aac``)."""
    head, dot, take = name.removesuffix(".aac").rpartition(".take")
    return f"{head}.aac" if dot and take.isdigit() else name


def book_object(job_id: str) -> str:
    """Object name of a finished audiobook."""
    return f"books/{job_id}.m4b"


def text_object(job_id: str) -> str:
    """Object name of a job's text map: the book's sentences by segment, for the read-along."""
    return f"texts/{_token(job_id)}.json"


def read_along_object(job_id: str) -> str:
    """Object name of a finished audiobook's read-along cues (WebVTT)."""
    return f"books/{_token(job_id)}.vtt"


def plan_object(job_id: str) -> str:
    """Object name of a job's queue plan: every synthesis command still to run, in the order they are
    released to the work queue (parse writes it, and releases them a window at a time)."""
    return f"plans/{_token(job_id)}.json"


def read_along_text_object(job_id: str) -> str:
    """Object name of a job's read-along text: an EPUB 3 whose sentences carry :func:`sentence_id` ids
    (written by parse when a request asks for ``read_along``; the assembler adds the audio)."""
    return f"texts/{_token(job_id)}.epub"


def read_along_book_object(job_id: str) -> str:
    """Object name of a finished audiobook's read-along EPUB 3 (text with Media Overlays)."""
    return f"books/{_token(job_id)}.epub"


SENTENCE_ID = re.compile(rb'\bid="ra-(\d+)-(\d+)-(\d+)-(\d+)"')  # as sentence_id writes them, in markup


def sentence_id(chapter: int, segment: int, piece: int, sentence: int) -> str:
    """The ``id`` of a sentence's span in a read-along text: its place in the job's text map."""
    return f"ra-{chapter}-{segment}-{piece}-{sentence}"


def cover_object(job_id: str, suffix: str) -> str:
    return f"covers/{job_id}{suffix}"


def dead_letter_subject(stage: str) -> str:
    """Subject of the record of a message that ``stage`` gave up on."""
    return f"{DEAD_PREFIX}.{_token(stage)}"


def all_dead_letters_filter() -> str:
    return f"{DEAD_PREFIX}.>"


MAX_DELIVERIES_PREFIX = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


def exhausted_filter(stream: str = ">") -> str:
    """The server's advisories of messages it stopped delivering: of one stream's consumers, or all."""
    return MAX_DELIVERIES_PREFIX + (".>" if stream == ">" else f".{_token(stream)}.*")


def destination_template(subject: str) -> str:
    """The low-cardinality name of a subject for traces and metrics (no job ids, no positions)."""
    head, _, rest = subject.partition(".")
    if head == EVENTS_PREFIX:
        return f"{EVENTS_PREFIX}.{rest.partition('.')[2]}"
    if head == SYNTH_PREFIX:
        return f"{SYNTH_PREFIX}.{rest.partition('.')[0]}"
    if head == DEAD_PREFIX:
        return head
    return subject if subject == REQUEST_SUBJECT else head


def service_name(role: str) -> str:
    """The nats micro service name of a role (``nats micro ls``)."""
    return f"audiobook-{_token(role)}"


def control_subject(role: str, instance: str, verb: str) -> str:
    """The subject of one service instance's control endpoint (``status``, ``drain``)."""
    return f"{CONTROL_PREFIX}.{_token(role)}.{_token(instance)}.{_token(verb)}"


def kv_stream(bucket: str) -> str:
    """The stream JetStream keeps a KV bucket in."""
    return f"KV_{bucket}"


def object_stream(bucket: str) -> str:
    """The stream JetStream keeps an object store bucket in."""
    return f"OBJ_{bucket}"
