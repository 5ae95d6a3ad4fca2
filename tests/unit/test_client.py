"""The operator API's pure parts: each verb's rule, the error tree and its translation, and the
CLI's drawing of the typed follow updates."""

from __future__ import annotations

import io
from pathlib import Path

import nats.errors
import nats.js.errors
import pytest

from events.errors import PipelineError
from events.projection import ACCEPTED, CANCELLED, COMPLETED, FAILED, PARSED, PAUSED, REJECTED, JobState
from services.app.follow import shown_on
from services.app.progress import ProgressBar
from services.bus.connect import NatsUnreachable
from services.client import (
    Assembling,
    ClientError,
    ConnectionLost,
    JobNotFound,
    JobStateError,
    NoAnswer,
    NoPipeline,
    NoSuchFile,
    Progress,
    ServerError,
    Unreachable,
    Warned,
    WorkerNotFound,
    guards,
)
from services.client.translation import translate, translated

ALL = ("", ACCEPTED, PARSED, PAUSED, COMPLETED, FAILED, REJECTED, CANCELLED)


def job(status: str, source: str = "sources/x.epub") -> JobState:
    return JobState(job_id="j1", status=status, source_object=source, reason="why")


def allowed(check, status: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        check(job(status))
    except JobStateError:
        return False
    return True


def test_each_job_verb_has_one_rule() -> None:
    assert {s for s in ALL if allowed(guards.check_cancel, s)} == {"", ACCEPTED, PARSED, PAUSED}
    assert {s for s in ALL if allowed(guards.check_pause, s)} == {ACCEPTED, PARSED}
    assert {s for s in ALL if allowed(guards.check_unpause, s)} == {PAUSED}


def test_the_rules_say_why_in_the_clis_words() -> None:
    with pytest.raises(JobStateError, match=r"^job j1 is already completed$"):
        guards.check_cancel(job(COMPLETED))
    with pytest.raises(JobStateError, match=r"^job j1 is paused: only a running job can be paused$"):
        guards.check_pause(job(PAUSED))
    with pytest.raises(JobStateError, match=r"^job j1 is parsed, not paused$"):
        guards.check_unpause(job(PARSED))
    with pytest.raises(JobNotFound, match="no job 'j1' in this store"):
        guards.known(JobState(job_id="j1"), "j1")
    assert guards.known(job(PARSED), "j1").status == PARSED


def test_resume_sends_for_an_unfinished_job_and_nothing_for_a_completed_one() -> None:
    assert all(guards.resume_sends(job(s)) for s in (ACCEPTED, PARSED, PAUSED, FAILED, CANCELLED, REJECTED))
    assert guards.resume_sends(job(COMPLETED)) is False
    with pytest.raises(JobStateError, match=r"^job j1 was never accepted \(rejected: why\)$"):
        guards.resume_sends(job(REJECTED, source=""))


def test_only_tts_instances_of_that_name_drain() -> None:
    replies = [
        {"id": "a1", "name": "audiobook-tts", "metadata": {"worker": "gpu-1"}},
        {"id": "a2", "name": "audiobook-tts", "metadata": {"worker": "gpu-2"}},
        {"id": "p1", "name": "audiobook-parse", "metadata": {"worker": "gpu-1"}},
    ]
    assert [r["id"] for r in guards.drain_targets(replies, "gpu-1")] == ["a1"]
    assert [r["id"] for r in guards.drain_targets(replies, "a2")] == ["a2"], "an instance id names one"
    assert guards.drain_targets(replies, "p1") == [] and guards.drain_targets(replies, "nobody") == []
    assert guards.is_tts({"role": "tts"}) and not guards.is_tts({"role": "parse"})


def test_a_book_must_be_a_file_here(tmp_path: Path) -> None:
    with pytest.raises(NoSuchFile, match=r"nope\.epub: no such file"):
        guards.existing_file(tmp_path / "nope.epub")
    with pytest.raises(NoSuchFile):
        guards.existing_file(tmp_path)  # a folder is not a book
    (tmp_path / "b.epub").write_bytes(b"x")
    assert guards.existing_file(str(tmp_path / "b.epub")) == tmp_path / "b.epub"


def test_one_error_tree() -> None:
    for leaf in (NoSuchFile, JobNotFound, JobStateError, WorkerNotFound, ServerError):
        assert issubclass(leaf, ClientError) and issubclass(leaf, PipelineError), leaf
    for leaf in (Unreachable, ConnectionLost, NoPipeline, NoAnswer):
        assert issubclass(leaf, ServerError), leaf


def test_nats_errors_are_translated_in_one_place() -> None:
    assert isinstance(translate(nats.errors.NoServersError()), ConnectionLost)
    assert "no audiobook pipeline yet" in str(translate(nats.js.errors.NotFoundError()))
    assert isinstance(translate(nats.js.errors.NotFoundError()), NoPipeline)
    assert isinstance(translate(nats.errors.TimeoutError()), NoAnswer)
    assert isinstance(translate(nats.errors.NoRespondersError()), NoAnswer)
    unreachable = translate(NatsUnreachable("cannot reach NATS at nats://h:1 (refused)"))
    assert isinstance(unreachable, Unreachable) and str(unreachable) == "cannot reach NATS at nats://h:1 (refused)"
    assert translate(ValueError("a bug")) is None
    with pytest.raises(NoAnswer), translated():
        raise nats.errors.TimeoutError
    with pytest.raises(TimeoutError) as plain, translated():  # not the server's: left as it is
        raise TimeoutError("asyncio")
    assert not isinstance(plain.value, ClientError)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_draws_the_followed_updates_on_its_bar() -> None:
    stream = Tty()
    bar = ProgressBar(stream)
    show = shown_on(bar)
    show(Progress("Alice", 3, 10, 30.0))
    show(Progress("Alice", 4, 10, 40.0, baseline=True))  # the first live update: 4 done before this run
    assert [n for _, n in bar.throughput.samples] == [4, 4], "work before the run is not counted as speed"
    show(Warned("chapter 2 could not be read"))
    show(Progress("Alice", 10, 10, 100.0, final=True))
    show(Assembling(10))
    out = stream.getvalue()
    assert "warning: chapter 2 could not be read\n" in out
    assert "10/10 segments 100%" in out and out.endswith("all 10 segments done; building the audiobook\n")


def test_quiet_shows_only_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    show = shown_on(None)
    show(Progress("Alice", 3, 10, 30.0, baseline=True))
    show(Assembling(10))
    show(Warned("an image without text"))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "warning: an image without text\n"
