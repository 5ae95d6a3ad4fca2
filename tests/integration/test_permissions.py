"""Per-role permissions on a real nats-server: a client converts a book with client rights only,
and every forgery from the hostile-bus issue is refused by the server itself."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import nats
import orjson
import pytest
from mutagen.mp4 import MP4

from events import names
from events.codec import encode
from events.names import control_subject
from events.projection import COMPLETED, from_snapshot
from events.tickets import holds_ticket
from events.types import JobCompleted, SegmentChecked, SegmentFailed, SegmentSynthesized, SynthesizeSegment
from services.app.sample import write_sample_book
from services.app.stack import Stack, command_key, stack_credentials
from services.bus.control import fleet
from services.bus.ephemeral import read_audio
from services.bus.jobs import rebuild_state
from services.bus.objects import meta_subject
from services.bus.topology import ensure_topology, object_store
from services.bus.uploads import sha256_file
from services.settings import Settings
from services.testing.waiting import job_events, wait_for
from tests.conftest import ROOT
from tests.conftest import book as book_path

pytestmark = pytest.mark.slow


async def refused(nc: nats.NATS, subject: str, payload: bytes) -> bool:
    """Publish through JetStream; True if the server refused it (no acknowledgement comes back)."""
    try:
        await nc.jetstream().publish(subject, payload, timeout=1.0)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return True
    return False


async def test_a_client_converts_but_cannot_forge(tmp_path: Path) -> None:
    credentials = stack_credentials(tmp_path / "data")
    stack = Stack(tmp_path, credentials=credentials, env={"AUDIOBOOK_MAX_SEGMENT_CHARS": "200"})
    book = write_sample_book(tmp_path / "sample.epub")
    errors: list[str] = []

    async def collect(exc: Exception) -> None:
        errors.append(str(exc))

    with stack:
        admin = await nats.connect(stack.url, user="admin", password=credentials["admin"])
        await ensure_topology(admin.jetstream(), Settings())
        stack.start("parse", "parse")
        stack.start("assemble", "assemble")
        stack.start("tts", "tts")
        env = dict(os.environ, AUDIOBOOK_NATS_USER="client", AUDIOBOOK_NATS_PASSWORD=credentials["client"])
        result = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "services", "convert", str(book), "-o", str(tmp_path / "out.m4b"), "--engine",
            "test", "--voice", "short", "--nats-url", stack.url, "-q"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert len(MP4(str(tmp_path / "out.m4b")).chapters) == 3
        bad = await asyncio.to_thread(subprocess.run, [  # a bad book is rejected, and its upload removed
            sys.executable, "-m", "services", "convert", str(book_path("edge/not-an-epub.epub")), "-o",
            str(tmp_path / "bad.m4b"), "--nats-url", stack.url, "-q"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=60)
        assert bad.returncode == 1 and "not a zip archive" in bad.stderr, bad.stderr
        uploads = await object_store(admin.jetstream(), names.UPLOADS_BUCKET)
        assert [o.name for o in await uploads.list(ignore_deletes=True)] == [f"sources/{sha256_file(book)}.epub"]

        client = await nats.connect(stack.url, user="client", password=credentials["client"], error_cb=collect)
        job = result.stdout.rsplit("job ", 1)[1].strip(" )\n")
        forged = {
            names.event_subject(job, "job.completed"): encode(JobCompleted(job, "books/other.m4b", 1.0, 1, 1, 7)),
            names.event_subject(job, "segment.synthesized"): encode(SegmentSynthesized(job, 0, 0, "audio/x.aac",
                                                                                       1024, 22050, delivery=9)),
            names.synth_subject("test", job, 0, 0): encode(SynthesizeSegment(
                job, 0, 0, ("Other text.",), "test", "short", 1.0, 250, "k", generation=5)),
            names.event_subject(job, "job.cancelled"): orjson.dumps({"type": "job.cancelled", "v": 1,
                                                                     "job_id": job, "generation": 0}),
            names.dead_letter_subject("tts"): b"{}",
            names.event_subject(job, "segment.checked"): encode(SegmentChecked(job, 0, 0, "audio/x.aac", False,
                                                                               "forged")),
        }
        for subject, payload in forged.items():
            assert await refused(client, subject, payload), f"the server accepted a client's {subject}"
        with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
            store = await object_store(client.jetstream())
            await asyncio.wait_for(store.put("audio/forged.aac", io.BytesIO(b"x")), 3)
        tts = [r for r in await fleet(admin) if r["name"] == "audiobook-tts"]
        assert len(tts) == 1, "the worker answers nats micro on a secured server"
        assert orjson.loads((await client.request(control_subject("tts", tts[0]["id"], "status"), b"")).data)
        with pytest.raises(nats.errors.Error):  # status yes, drain no
            await client.request(control_subject("tts", tts[0]["id"], "drain"), b"", timeout=1.0)
        durables = (names.ASSEMBLE_CONSUMER, names.CHECK_CONSUMER, names.RELEASE_CONSUMER)
        for durable in durables:  # the services' durables: no pulling
            with pytest.raises(nats.errors.Error):
                stolen = await client.jetstream().pull_subscribe_bind(durable, names.EVENTS_STREAM)
                await stolen.fetch(1, timeout=1.0)
        # no consumer of a client's on EVENTS: not a durable of its own, and not one named as the
        # services' are (the server would have updated the assembler's to a filter of the client's)
        for config in ({"durable_name": "squat"}, {"name": names.ASSEMBLE_CONSUMER, "filter_subject": "events.x.>"},
                       {"name": "squat", "inactive_threshold": 10 * 365 * 86400 * 10**9}):
            body = orjson.dumps({"stream_name": names.EVENTS_STREAM, "config": {"ack_policy": "explicit", **config}})
            with pytest.raises(nats.errors.Error):
                await client.request(f"$JS.API.CONSUMER.CREATE.{names.EVENTS_STREAM}", body, timeout=1.0)
        with pytest.raises(nats.errors.Error):
            await client.request(f"$JS.API.CONSUMER.DELETE.{names.EVENTS_STREAM}.{names.ASSEMBLE_CONSUMER}", b"",
                                 timeout=1.0)
        consumers = {c.name: c.config.filter_subject for c in await admin.jetstream().consumers_info(
            names.EVENTS_STREAM)}
        assert "squat" not in consumers
        assert {name: consumers[name] for name in durables} == {
            names.ASSEMBLE_CONSUMER: names.all_events_filter(), names.CHECK_CONSUMER: names.synthesized_filter(),
            names.RELEASE_CONSUMER: names.segment_events_filter()}, consumers
        await worker_is_kept_to_its_work(stack, credentials, job, forged)
        await check_is_kept_to_its_work(stack, credentials, job, forged)
        await asyncio.sleep(0.2)
        assert any("permissions violation" in e.lower() for e in errors), errors

        state = await rebuild_state(admin.jetstream(), job)
        assert state.status == COMPLETED and state.output_object == names.book_object(job)
        checkpoint = from_snapshot((await (await admin.jetstream().key_value(names.CHECKPOINT_BUCKET)).get(job)).value
                                   or b"").state
        assert checkpoint.status == COMPLETED and not any(c.failed for c in checkpoint.chapters), \
            "the forged failure is not in the assembler's checkpoint"
        segments = [e for e in await job_events(admin.jetstream(), job) if isinstance(e, SegmentSynthesized)]
        assert segments and all(holds_ticket(e, command_key(credentials)) for e in segments), \
            "every segment the worker reported carries its command's ticket"
        events = await admin.jetstream().stream_info(names.EVENTS_STREAM, subjects_filter=f"events.{job}.>")
        assert names.event_subject(job, "job.cancelled") not in (events.state.subjects or {})
        await client.close()
        await admin.close()


async def worker_is_kept_to_its_work(stack: Stack, credentials: dict[str, str], job: str,
                                     forged: dict[str, bytes]) -> None:
    """What a stolen tts credential cannot do (its worker just converted a book with it)."""
    errors: list[str] = []

    async def collect(exc: Exception) -> None:
        errors.append(str(exc))

    tts = await nats.connect(stack.url, user="tts", password=credentials["tts"], inbox_prefix=names.WORKER_INBOX,
                             error_cb=collect)
    await reads_audio_of_many_chunks(stack, credentials, tts)
    admin_only = [  # no stream, consumer or bucket administration: the core makes the topology
        *(f"$JS.API.STREAM.{verb}.{stream}" for verb in ("DELETE", "PURGE", "UPDATE")
          for stream in (names.EVENTS_STREAM, names.SYNTH_STREAM, names.REQUESTS_STREAM,
                         f"OBJ_{names.OBJECT_BUCKET}", f"KV_{names.CHECKPOINT_BUCKET}")),
        "$JS.API.STREAM.CREATE.SQUAT", f"$JS.API.STREAM.DELETE.OBJ_{names.AUDIO_BUCKET}",
        f"$JS.API.CONSUMER.DELETE.{names.REQUESTS_STREAM}.{names.PARSE_CONSUMER}",
        f"$JS.API.CONSUMER.DELETE.{names.SYNTH_STREAM}.{names.engine_consumer('test')}",
        f"$JS.API.CONSUMER.CREATE.{names.SYNTH_STREAM}", f"$JS.API.CONSUMER.CREATE.{names.EVENTS_STREAM}",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{names.SYNTH_STREAM}.squat",
        f"$JS.API.CONSUMER.MSG.NEXT.{names.EVENTS_STREAM}.{names.ASSEMBLE_CONSUMER}",
        # nor reading books, sources or the log
        f"$JS.API.STREAM.INFO.OBJ_{names.OBJECT_BUCKET}", f"$JS.API.STREAM.MSG.GET.{names.EVENTS_STREAM}",
        f"$JS.API.DIRECT.GET.OBJ_{names.UPLOADS_BUCKET}",
    ]
    for subject in admin_only:
        with pytest.raises(nats.errors.Error):
            await tts.request(subject, b"{}", timeout=1.0)
    for subject, payload in forged.items():  # its own stage's events only; no command, no other event
        if not subject.endswith(("segment.synthesized", "deadletter.tts")):
            assert await refused(tts, subject, payload), f"the server accepted the tts role's {subject}"
    for name in (names.book_object(job), names.source_object("0" * 64, ".epub")):  # no book or source written
        assert await refused(tts, meta_subject(names.OBJECT_BUCKET, name), b"{}"), name
    assert await refused(tts, f"$KV.{names.CHECKPOINT_BUCKET}.{job}", b"{}"), "a worker wrote a checkpoint"
    # its own kind of event it may publish, but only for segments it was given (events.tickets):
    # the assembler does not count a forged one
    forged_failure = SegmentFailed(job, 0, 0, "forged by a stolen credential", worker="thief", ticket="0" * 32)
    await tts.jetstream().publish(names.event_subject(job, SegmentFailed.KIND), encode(forged_failure))
    assembler_log = stack.logs / "assemble.log"
    for _ in range(50):
        if "(worker 'thief') is not counted" in assembler_log.read_text(errors="replace"):
            break
        await asyncio.sleep(0.1)
    assert "a segment.failed for 1.1 without its command's ticket (worker 'thief') is not counted" in \
        assembler_log.read_text(errors="replace")
    await tts.subscribe("_INBOX.>")  # no one else's replies
    await asyncio.sleep(0.3)
    assert any("violation for subscription" in e.lower() and "_inbox.>" in e.lower() for e in errors), errors
    await tts.close()
    worker_log = (stack.logs / "tts.log").read_text(errors="replace").lower()
    assert "permissions violation" not in worker_log, "the worker needed a right its role does not give"


async def check_is_kept_to_its_work(stack: Stack, credentials: dict[str, str], job: str,
                                    forged: dict[str, bytes]) -> None:
    """A check worker runs on the `check` credentials (it answers its health check, and its log holds
    no permissions violation); with them one reads no book, source or log and administers nothing."""
    stack.start("check", "check")

    async def ready() -> bool:
        return "ready" in (stack.logs / "check.log").read_text(errors="replace")

    await wait_for(ready, 60, every=0.2)  # (it waits for the core's topology, then loads its listener's libraries)
    env = dict(os.environ, AUDIOBOOK_NATS_USER="check", AUDIOBOOK_NATS_PASSWORD=credentials["check"])
    for role, password in (("check", credentials["check"]), ("tts", credentials["tts"])):  # compose's health checks
        healthy = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "services", "health", "--role", role, "--wait", "5", "--nats-url", stack.url],
            cwd=ROOT, env=dict(env, AUDIOBOOK_NATS_USER=role, AUDIOBOOK_NATS_PASSWORD=password),
            capture_output=True, text=True, timeout=60)
        assert healthy.returncode == 0, (role, healthy.stderr)
    errors: list[str] = []

    async def collect(exc: Exception) -> None:
        errors.append(str(exc))

    check = await nats.connect(stack.url, user="check", password=credentials["check"],
                               inbox_prefix=names.CHECK_INBOX, error_cb=collect)
    await reads_audio_of_many_chunks(stack, credentials, check)
    for subject, payload in forged.items():  # its verdicts and the retakes its events carry; no other event
        if not subject.endswith("segment.checked") and not subject.startswith(names.SYNTH_PREFIX):
            assert await refused(check, subject, payload), f"the server accepted the check role's {subject}"
    admin_only = [
        *(f"$JS.API.STREAM.{verb}.{stream}" for verb in ("DELETE", "PURGE", "UPDATE")
          for stream in (names.EVENTS_STREAM, names.SYNTH_STREAM, f"OBJ_{names.OBJECT_BUCKET}")),
        "$JS.API.STREAM.CREATE.SQUAT", f"$JS.API.CONSUMER.DELETE.{names.EVENTS_STREAM}.{names.CHECK_CONSUMER}",
        f"$JS.API.CONSUMER.CREATE.{names.EVENTS_STREAM}", f"$JS.API.STREAM.MSG.GET.{names.EVENTS_STREAM}",
        f"$JS.API.CONSUMER.MSG.NEXT.{names.EVENTS_STREAM}.{names.ASSEMBLE_CONSUMER}",
        f"$JS.API.STREAM.INFO.OBJ_{names.OBJECT_BUCKET}", f"$JS.API.DIRECT.GET.OBJ_{names.UPLOADS_BUCKET}",
        f"$JS.API.STREAM.INFO.KV_{names.CHECKPOINT_BUCKET}",
    ]
    for subject in admin_only:
        with pytest.raises(nats.errors.Error):
            await check.request(subject, b"{}", timeout=1.0)
    assert await refused(check, meta_subject(names.OBJECT_BUCKET, names.book_object(job)), b"{}"), "a book written"
    await check.subscribe("_INBOX.>")
    await asyncio.sleep(0.3)
    assert any("violation for subscription" in e.lower() for e in errors), errors
    await check.close()
    check_log = (stack.logs / "check.log").read_text(errors="replace").lower()
    assert "ready" in check_log and "permissions violation" not in check_log, check_log[-2000:]


async def reads_audio_of_many_chunks(stack: Stack, credentials: dict[str, str], worker: nats.NATS) -> None:
    """A worker's role reads audio larger than one chunk (a long segment, a reference recording) as its
    services do: the demo's check once could not (nats-py's own read looks streams up by subject)."""
    admin = await nats.connect(stack.url, user="admin", password=credentials["admin"])
    payload = os.urandom(300_000)  # three chunks of the object store's 128 KiB
    await (await object_store(admin.jetstream(), names.AUDIO_BUCKET)).put("audio/long.aac", payload)
    await admin.close()
    audio = await worker.jetstream().object_store(names.AUDIO_BUCKET)
    assert await asyncio.wait_for(read_audio(worker.jetstream(), audio, "audio/long.aac"), 20) == payload
