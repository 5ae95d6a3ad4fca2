"""Named users on a real nats-server: each converts with credentials of their own and sees only
their own jobs, events, store and replies; a removed user loses access at once."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import nats
import nats.js.errors
import orjson
import pytest
from mutagen.mp4 import MP4
from nats.js.api import ConsumerConfig

from events import names
from events.projection import CANCELLED, COMPLETED, PARSED, PAUSED, REJECTED
from events.requests import ConvertRequest, request_ref
from services.app.sample import write_sample_book
from services.app.stack import Stack, embedded_stack, nats_server_binary, stack_credentials
from services.app.users import add_user, load_users, remove_user
from services.bus.ephemeral import download_object
from services.bus.jobs import rebuild_state
from services.bus.topology import VIEW_IDLE_S, ensure_topology, user_store
from services.client.api import connect
from services.client.errors import JobNotFound, JobStateError
from services.settings import Settings
from services.testing.waiting import wait_for
from tests.conftest import ROOT
from tests.integration.test_permissions import refused

pytestmark = pytest.mark.slow
VIEW = names.EVENTS_VIEW_STREAM


def cli(*args: str, user: str = "", password: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **({"AUDIOBOOK_NATS_USER": user, "AUDIOBOOK_NATS_PASSWORD": password} if user else {}))
    return subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


async def test_users_see_only_their_own_books(tmp_path: Path) -> None:
    credentials = stack_credentials(tmp_path / "data")
    registry = tmp_path / "users"
    passwords = {name: str(add_user(registry, name)) for name in ("alice", "bob", "carol")}
    stack = Stack(tmp_path, credentials=credentials, users=load_users(registry),
                  env={"AUDIOBOOK_MAX_SEGMENT_CHARS": "200", "AUDIOBOOK_USER_MAX_JOBS": "1"})
    book = write_sample_book(tmp_path / "sample.epub")
    errors: list[str] = []

    async def collect(exc: Exception) -> None:
        errors.append(str(exc))

    with stack:
        admin = await nats.connect(stack.url, user="admin", password=credentials["admin"])
        await ensure_topology(admin.jetstream(), Settings())
        for name in ("alice", "bob"):  # carol's store is not made: the operator has not finished adding her
            await user_store(admin.jetstream(), name, Settings(user_store_gb=0.05))
        for role in ("parse", "assemble"):
            stack.start(role, role)
        await a_user_stops_only_their_own(stack, passwords, book)
        stack.start("tts", "tts")
        alice = ("--nats-url", stack.url)
        result = await asyncio.to_thread(cli, "convert", str(book), "-o", str(tmp_path / "alice.m4b"), "--engine",
                                         "test", "--voice", "short", *alice, "-q", user="alice",
                                         password=passwords["alice"])
        assert result.returncode == 0, result.stderr
        assert len(MP4(str(tmp_path / "alice.m4b")).chapters) == 3
        job = result.stdout.rsplit("job ", 1)[1].strip(" )\n")
        assert job.startswith("alice-j"), job
        state = await rebuild_state(admin.jetstream(), job)
        assert state.status == COMPLETED
        storeless = await asyncio.to_thread(cli, "convert", str(book), *alice, "-q", user="carol",
                                            password=passwords["carol"])
        assert storeless.returncode == 1 and "audiobook user add carol" in storeless.stderr, storeless.stderr
        mine = await asyncio.to_thread(cli, "status", *alice, user="alice", password=passwords["alice"])
        assert mine.returncode == 0 and job in mine.stdout, mine.stdout + mine.stderr
        theirs = await asyncio.to_thread(cli, "status", *alice, user="bob", password=passwords["bob"])
        assert theirs.returncode == 0 and job not in theirs.stdout, theirs.stdout + theirs.stderr

        bob = await nats.connect(stack.url, user="bob", password=passwords["bob"],
                                 inbox_prefix=names.user_inbox("bob"), error_cb=collect)
        js = bob.jetstream()
        alice_events = names.user_events_filter("alice")
        denied = {  # each a JetStream API call bob's rights do not reach
            f"$JS.API.CONSUMER.CREATE.{VIEW}.peek.{alice_events}": {"name": "peek", "filter_subject": alice_events},
            f"$JS.API.CONSUMER.CREATE.{VIEW}": {"filter_subject": alice_events},  # filter in the body: refused
            f"$JS.API.CONSUMER.CREATE.{VIEW}.peek": {"name": "peek", "filter_subject": alice_events},
            f"$JS.API.CONSUMER.CREATE.{names.EVENTS_STREAM}.peek.{alice_events}": {"name": "peek"},
            f"$JS.API.STREAM.MSG.GET.{VIEW}": {"seq": 1}, f"$JS.API.STREAM.MSG.GET.{names.EVENTS_STREAM}": {"seq": 1},
            f"$JS.API.DIRECT.GET.{VIEW}": {"seq": 1}, f"$JS.API.STREAM.INFO.{VIEW}": {"subjects_filter": ">"},
            f"$JS.API.STREAM.INFO.{names.EVENTS_STREAM}": {"subjects_filter": ">"},
            f"$JS.API.STREAM.INFO.OBJ_{names.user_bucket('alice')}": {},
            f"$JS.API.STREAM.INFO.OBJ_{names.OBJECT_BUCKET}": {}, f"$JS.API.STREAM.INFO.OBJ_{names.UPLOADS_BUCKET}": {},
            f"$JS.API.STREAM.PURGE.OBJ_{names.user_bucket('alice')}": {},
            f"$JS.API.STREAM.INFO.KV_{names.CHECKPOINT_BUCKET}": {},
            f"$JS.API.STREAM.DELETE.OBJ_{names.user_bucket('bob')}": {},  # not even their own store's stream
            f"$JS.API.STREAM.UPDATE.OBJ_{names.user_bucket('bob')}": {},
            "$JS.API.STREAM.CREATE.SQUAT": {"name": "SQUAT", "subjects": ["squat.>"]},
            f"$JS.API.CONSUMER.DELETE.{names.REQUESTS_STREAM}.{names.PARSE_CONSUMER}": {},
            "$JS.API.STREAM.NAMES": {}, f"$JS.API.CONSUMER.NAMES.{VIEW}": {},
        }
        for subject, body in denied.items():
            with pytest.raises(nats.errors.Error):
                await bob.request(subject, orjson.dumps(body), timeout=1.0)
        for subject in (names.request_subject("alice"), names.REQUEST_SUBJECT):  # no request in another's name
            assert await refused(bob, subject, b'{"source": {"object": "x"}}'), subject
        for inbox in (f"{names.user_inbox('alice')}.>", "_INBOX.>"):  # no one else's replies
            await bob.subscribe(inbox)
        await asyncio.sleep(0.3)
        for inbox in (names.user_inbox("alice"), "_INBOX.>"):
            assert any("violation for subscription" in e.lower() and inbox.lower() in e.lower() for e in errors), \
                (inbox, errors)
        # their own: the events of their jobs, by a consumer filtered to them, and their own store
        own = await js.pull_subscribe(names.user_events_filter("bob"), stream=VIEW)
        await own.unsubscribe()
        # a consumer bob leaves on the mirror goes when idle, even one he made durable; none may live longer
        with pytest.raises(nats.js.errors.APIError, match="inactive threshold"):
            await js.add_consumer(VIEW, ConsumerConfig(name="squat", filter_subject=names.user_events_filter("bob"),
                                                       inactive_threshold=10 * 365 * 86400.0))
        durable = await js.add_consumer(VIEW, ConsumerConfig(durable_name="squat", name="squat",
                                                             filter_subject=names.user_events_filter("bob")))
        assert 0 < (durable.config.inactive_threshold or 0) <= VIEW_IDLE_S
        bobs = await js.object_store(names.user_bucket("bob"))
        await bobs.put("sources/note.txt", b"mine")
        copy = io.BytesIO()
        await download_object(bobs, "sources/note.txt", copy)
        assert copy.getvalue() == b"mine"

        # alice's own store holds her book (copied there before its completion was told)
        alice_nc = await nats.connect(stack.url, user="alice", password=passwords["alice"],
                                      inbox_prefix=names.user_inbox("alice"))
        shelf = await alice_nc.jetstream().object_store(names.user_bucket("alice"))
        assert (await shelf.get_info(names.book_object(job))).size == (tmp_path / "alice.m4b").stat().st_size

        # a removed user loses access at once: their connection closes and they cannot connect again
        remove_user(registry, "alice")
        stack.reload(load_users(registry))
        for _ in range(50):
            if alice_nc.is_closed or not alice_nc.is_connected:
                break
            await asyncio.sleep(0.1)
        assert alice_nc.is_closed or not alice_nc.is_connected, "a removed user kept their connection"
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(stack.url, user="alice", password=passwords["alice"], allow_reconnect=False,
                               connect_timeout=2)
        await alice_nc.close()
        await bob.close()
        await admin.close()


def test_users_of_the_compose_stack_and_of_the_embedded_stack(tmp_path: Path) -> None:
    """`audiobook user add|list|remove`: the compose stack's roles.conf is written again (and the
    server takes it); the embedded stack's users are in its data directory, their stores made at its start."""
    folder = tmp_path / "nats"
    folder.mkdir()
    for name in ("server.conf", "roles.conf"):
        (folder / name).write_text((ROOT / "nats" / name).read_text())
    added = cli("user", "add", "carol", "--compose", str(folder))
    assert added.returncode == 0, added.stderr
    assert "password (shown once): " in added.stdout and "docker compose kill -s HUP nats" in added.stdout
    assert "user: carol" in (folder / "roles.conf").read_text()
    env = dict(os.environ, **{f"NATS_{role.upper()}_PASSWORD": "pw" for role in ("client", "parse", "tts",
                                                                                 "assemble", "check", "admin")})
    check = subprocess.run([nats_server_binary(), "-c", str(folder / "server.conf"), "-t"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert cli("user", "list", "--compose", str(folder)).stdout.split() == ["carol"]
    again = cli("user", "add", "carol", "--compose", str(folder))
    assert again.returncode == 0 and "already a user" in again.stdout
    refused_name = cli("user", "add", "Admin", "--compose", str(folder))
    assert refused_name.returncode != 0 and "lowercase" in refused_name.stderr
    assert cli("user", "remove", "carol", "--compose", str(folder)).returncode == 0
    assert "user: carol" not in (folder / "roles.conf").read_text()

    data = tmp_path / "data"
    added = subprocess.run([sys.executable, "-m", "services", "user", "add", "dave"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, AUDIOBOOK_DATA_DIR=str(data)))
    assert added.returncode == 0 and "next start" in added.stdout, added.stdout + added.stderr
    password = added.stdout.split("password (shown once): ")[1].split()[0]

    async def embedded() -> None:
        async with embedded_stack(Settings(data_dir=data), 1, services=False) as admin:
            dave = await nats.connect(str(admin.nats_url), user="dave", password=password,
                                      inbox_prefix=names.user_inbox("dave"))
            store = await dave.jetstream().object_store(names.user_bucket("dave"))
            await store.put("sources/x.txt", b"hello")
            await dave.close()

    asyncio.run(embedded())


async def a_user_stops_only_their_own(stack: Stack, passwords: dict[str, str], book: Path) -> None:
    """alice pauses and cancels her own job (parse carries it out: she may not write events); bob's
    stop of it is refused, by parse on his own subject and by the server on hers."""
    def as_user(name: str) -> Settings:
        return Settings(nats_user=name, nats_password=passwords[name])

    async with connect(stack.url, as_user("alice")) as alice, connect(stack.url, as_user("bob")) as bob:
        submission = await alice.submit(book, ConvertRequest(engine="test", voice="short", chapters="1"))
        job = submission.job_id

        async def parsed() -> bool:
            return (await alice.job(job)).status == PARSED

        await wait_for(parsed, 30, retry=(JobNotFound,))  # no tts worker runs yet: it waits in the queue
        with pytest.raises(JobNotFound):  # bob does not see it
            await bob.job(job)
        second = await alice.follow(await alice.submit(book, ConvertRequest(engine="test", voice="short",
                                                                             chapters="2")))
        assert second.state.status == REJECTED and "AUDIOBOOK_USER_MAX_JOBS=1" in second.state.reason, second.state
        raw = orjson.dumps({"job_id": job, "action": "cancel"})
        assert await refused(bob.nc, names.stop_subject("alice"), raw), "bob stopped a job in alice's name"
        await bob.js.publish(names.stop_subject("bob"), raw)
        ref = request_ref(raw, "bob")

        async def answered() -> str:
            return (await bob.job(ref)).reason

        assert "is not one of yours" in await wait_for(answered, 30, retry=(JobNotFound,))
        assert await alice.pause_job(job) is None
        assert (await alice.job(job)).status == PAUSED
        with pytest.raises(JobStateError, match="only a running job can be paused"):
            await alice.pause_job(job)
        assert await alice.cancel(job) is None
        assert (await alice.job(job)).status == CANCELLED
