"""Named users, pure parts: names and subjects, permissions, the registry, per-user limits and shares."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt
import pytest

from events import names
from events.requests import job_id_for, request_ref
from events.roles import ROLES, authorization_block, compose_roles_conf, user_publish, user_subscribe
from events.types import BookParsed, ChapterInfo
from services.app.stack import nats_server_binary
from services.app.users import UserError, add_user, load_users, remove_user
from services.parse import decide
from services.parse.admission import RequestRate, hours_refusal, jobs_refusal, rate_refusal, remaining_hours
from services.parse.limits import estimated_hours


def test_a_user_s_jobs_carry_their_name_and_the_mirror_splits_it() -> None:
    job = job_id_for("a" * 64, None, None, 1.0, owner="alice")
    shared = job_id_for("a" * 64, None, None, 1.0)
    assert job == f"alice-{shared}" and names.owner_of(job) == "alice" and names.owner_of(shared) is None
    assert request_ref(b"x", "bob").startswith("bob-r") and names.owner_of(request_ref(b"x")) is None
    assert names.viewed(names.event_subject(job, "job.accepted")) == f"events.alice.{shared}.job.accepted"
    assert names.viewed(names.event_subject(shared, "job.accepted")) == f"events.{shared}.job.accepted"
    assert names.viewed(names.job_events_filter(job)) == f"events.alice.{shared}.>"
    assert names.viewed("synth.piper.x-y.0.1") == "synth.piper.x-y.0.1", "only the events are split"
    assert names.request_subject("alice") == "convert.request.alice" and names.request_subject() == "convert.request"
    assert names.requester("convert.request.alice") == "alice" and names.requester("convert.request") is None


@pytest.mark.parametrize("name", ["Alice", "a-b", "1abc", "", "a" * 33, "j0123456789abcdef0123", "client", "admin"])
def test_names_that_cannot_be_users(name: str) -> None:
    assert names.user_name_refusal(name, ROLES)
    with pytest.raises(UserError):
        add_user(Path("/nonexistent"), name)


def test_a_user_may_touch_only_their_own() -> None:
    rights = user_publish("alice")
    assert "convert.request.alice" in rights and "convert.request" not in rights
    assert f"$JS.API.CONSUMER.CREATE.{names.EVENTS_VIEW_STREAM}.*.events.alice.>" in rights
    assert not any(r.startswith(f"$JS.API.CONSUMER.CREATE.{names.EVENTS_VIEW_STREAM}") and not r.endswith(
        "events.alice.>") for r in rights), "a consumer on the mirror only with their own filter in the subject"
    assert not any(names.EVENTS_STREAM + "." in r or r.endswith(names.EVENTS_STREAM) for r in rights
                   if names.EVENTS_VIEW_STREAM not in r), "nothing of the log itself"
    view = names.EVENTS_VIEW_STREAM
    assert not {f"$JS.API.STREAM.MSG.GET.{view}", f"$JS.API.DIRECT.GET.{view}", f"$JS.API.DIRECT.GET.{view}.>",
                f"$JS.API.STREAM.INFO.{view}"} & set(rights), "no read of the mirror by sequence, nor its subjects"
    assert not any(f"OBJ_{bucket}" in r or f"$O.{bucket}." in r for r in rights
                   for bucket in (names.OBJECT_BUCKET, names.UPLOADS_BUCKET, names.AUDIO_BUCKET, "user-bob"))
    assert not any(r.startswith(("$JS.API.STREAM.DELETE", "$JS.API.STREAM.UPDATE", "$JS.API.STREAM.CREATE",
                                 "$JS.ACK", "$KV", "$JS.API.STREAM.NAMES")) for r in rights)
    assert user_subscribe("alice") == ["_INBOX_alice.>"]


def test_the_registry_keeps_hashes_and_the_server_takes_them(tmp_path: Path) -> None:
    password = add_user(tmp_path, "alice")
    assert password and add_user(tmp_path, "alice") is None, "adding again keeps their password"
    add_user(tmp_path, "bob")
    users = load_users(tmp_path)
    assert list(users) == ["alice", "bob"] and bcrypt.checkpw(password.encode(), users["alice"].encode())
    assert password not in (tmp_path / "users.json").read_text(), "the password is never stored"
    assert oct((tmp_path / "users.json").stat().st_mode & 0o777) == "0o600"
    config = tmp_path / "server.conf"
    config.write_text(authorization_block({role: f'"pw-{role}"' for role in ROLES}, users))
    check = subprocess.run([nats_server_binary(), "-c", str(config), "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "user: alice" in compose_roles_conf(users) and "user: alice" not in compose_roles_conf()
    remove_user(tmp_path, "alice")
    assert list(load_users(tmp_path)) == ["bob"]
    with pytest.raises(UserError):
        remove_user(tmp_path, "alice")
    (tmp_path / "users.json").write_text("not json")
    with pytest.raises(UserError, match="not a users file"):
        load_users(tmp_path)


def test_a_burst_is_cut_to_the_rate_and_the_rate_refills() -> None:
    rate = RequestRate(30)
    admitted = sum(rate.admit("mallory", 0.0) for _ in range(300))
    assert admitted == 30, "a burst of the rate, then nothing"
    assert rate.admit("alice", 0.0), "another user's bucket is their own"
    assert not rate.admit("mallory", 1.0) and rate.admit("mallory", 3.0), "one request every two seconds"
    assert all(RequestRate(0).admit("x", 0.0) for _ in range(1000)), "0: no limit"
    assert "AUDIOBOOK_USER_REQUESTS_PER_MINUTE" in rate_refusal("mallory", 30)


def test_a_user_s_jobs_at_once_and_hours_still_to_make() -> None:
    assert jobs_refusal("alice", 9, 10) == "" and jobs_refusal("alice", 50, 0) == ""
    assert "AUDIOBOOK_USER_MAX_JOBS=10" in jobs_refusal("alice", 10, 10)
    assert hours_refusal("alice", 150.0, 50.0, 200.0) == "" and hours_refusal("alice", 500.0, 50.0, 0) == ""
    refusal = hours_refusal("alice", 150.0, 60.0, 200.0)
    assert "150.0 hours" in refusal and "60.0 more" in refusal and "AUDIOBOOK_USER_MAX_QUEUED_HOURS" in refusal
    chapters = (ChapterInfo(0, "One", 10, 36_000), ChapterInfo(1, "Two", 10, 36_000))
    book = BookParsed("alice-j1", "T", "A", "en", chapters)
    whole = remaining_hours(book, 0, 1.0)
    assert whole == pytest.approx(estimated_hours(72_000, 1.0))
    assert remaining_hours(book, 15, 1.0) == pytest.approx(whole / 4), "a quarter of its segments left"
    assert remaining_hours(book, 10, 2.0) == pytest.approx(whole / 4), "twice as fast: half the audio"


def test_a_user_s_jobs_share_one_window() -> None:
    running = ["alice-j1", "mallory-j1", "mallory-j2", "mallory-j3", "j0"]
    assert decide.owners_share("alice-j1", running) == (0, 1)
    assert decide.owners_share("mallory-j3", running) == (2, 3)
    assert decide.owners_share("mallory-j9", running) == (3, 4), "a new job comes last"
    assert decide.owners_share("j5", running) == (1, 2), "the shared client's jobs are one owner's"
    whole = decide.release_window(8)
    assert sum(decide.release_window(8, share=(rank, 3)) for rank in range(3)) == whole
    fifty = [decide.release_window(8, share=(rank, 50)) for rank in range(50)]
    assert sum(fifty) == whole and fifty[0] == 1 and fifty[-1] == 0, "the oldest first; no more than one user's"
    assert decide.release_window(8, setting=100, share=(3, 4)) == 100, "the admin's fixed window is each job's"
