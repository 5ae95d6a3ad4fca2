"""The operator API on a real nats-server and a real pipeline (instant engine): its verbs, their
rules, one trace per submitted book, and the script of docs/client.md run as it is written."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from events import names
from events.projection import COMPLETED, PAUSED
from events.requests import ConvertRequest
from events.types import JobAccepted
from services.app.sample import write_sample_book
from services.client import (
    Assembling,
    JobNotFound,
    JobStateError,
    NoSuchFile,
    PipelineClient,
    Progress,
    Unreachable,
    WorkerNotFound,
    connect,
)
from services.testing.waiting import job_events, job_state
from tests.conftest import ROOT
from tests.integration.helpers import running

# A dashboard-style submit (the dashboard's `s`: a path, no choices) with tracing on, in a process of its
# own so the tracer provider it installs is not this test process's
TRACED_SUBMIT = """
import asyncio, sys
from pathlib import Path
import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from services.client import connect

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    async with connect(sys.argv[1], origin="dashboard") as client:
        return await client.submit(Path(sys.argv[2]))

submission = asyncio.run(main())
spans = [{"name": s.name, "trace": f"{s.context.trace_id:032x}", "span": f"{s.context.span_id:016x}",
          "parent": f"{s.parent.span_id:016x}" if s.parent else None} for s in exporter.get_finished_spans()]
print(orjson.dumps({"job_id": submission.job_id, "spans": spans}).decode())
"""


def python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Python with this checkout's packages importable, as a script's author would."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


async def test_a_dashboard_style_submit_carries_its_trace(js, settings, tmp_path: Path) -> None:
    book = write_sample_book(tmp_path / "sample.epub")
    done = await asyncio.to_thread(python, "-c", TRACED_SUBMIT, str(settings.nats_url), str(book))
    assert done.returncode == 0, done.stderr
    said = orjson.loads(done.stdout)
    request = await js.get_last_msg(names.REQUESTS_STREAM, names.REQUEST_SUBJECT)
    headers = request.headers or {}
    assert str(headers.get("Nats-Msg-Id", "")).startswith("dashboard:")
    traceparent = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}", str(headers.get("traceparent", "")))
    assert traceparent, f"no trace context in the request's headers: {headers}"
    spans = {span["name"]: span for span in said["spans"]}
    send, verb = spans["send convert.request"], spans["audiobook submit"]
    assert traceparent.groups() == (send["trace"], send["span"]), "the header is the send span's context"
    assert send["parent"] == verb["span"] and verb["trace"] == send["trace"], "one trace for the verb"
    assert orjson.loads(request.data)["request_id"] == said["job_id"]


async def test_the_verbs_and_their_rules_on_a_real_pipeline(js, client, settings, tmp_path: Path) -> None:
    book = write_sample_book(tmp_path / "sample.epub")
    operator = PipelineClient(client, "script")
    with pytest.raises(NoSuchFile):
        await operator.submit(tmp_path / "missing.epub")
    with pytest.raises(JobNotFound):
        await operator.job("jnothing")
    updates: list[object] = []
    async with running(["parse", "tts", "assemble"], settings):
        submission = await operator.submit(book, ConvertRequest(engine="test", voice="short"))
        outcome = await operator.follow(submission, tmp_path / "out" / "sample.m4b", updates.append)
        assert outcome.ok and outcome.output and outcome.output.stat().st_size > 1000
        assert not (tmp_path / "out" / "sample.m4b.part").exists()
        progress = [u for u in updates if isinstance(u, Progress)]
        assert progress[-1].done == progress[-1].total > 0 and progress[-1].final
        assert [u.done for u in progress] == sorted(u.done for u in progress)
        assert sum(u.baseline for u in progress) == 1 and any(isinstance(u, Assembling) for u in updates)

        state = await operator.job(submission.job_id)
        assert state.status == COMPLETED and state in await operator.jobs()
        accepted = sum(isinstance(e, JobAccepted) for e in await job_events(js, submission.job_id))
        _, again = await operator.resume(submission.job_id)  # a completed job: nothing is sent
        assert not again.sent
        refetched = await operator.follow(again, tmp_path / "again.m4b")
        assert refetched.ok and (tmp_path / "again.m4b").read_bytes() == outcome.output.read_bytes()
        await asyncio.sleep(0.5)
        assert sum(isinstance(e, JobAccepted) for e in await job_events(js, submission.job_id)) == accepted
        for verb in (operator.cancel, operator.pause_job, operator.unpause_job):
            with pytest.raises(JobStateError, match=submission.job_id):
                await verb(submission.job_id)
        with pytest.raises(WorkerNotFound, match="'nobody'"):
            await operator.drain("nobody")
        assert "tts" in {w.get("role") for w in await operator.workers()}
        assert await operator.served_engines()


async def test_a_job_paused_twice_is_refused_and_unpaused_once(js, client, settings, tmp_path: Path) -> None:
    book = write_sample_book(tmp_path / "sample.epub")
    operator = PipelineClient(client, "script")
    async with running(["parse", "assemble"], settings):  # no tts worker: the job waits in the queue
        submission = await operator.submit(book, ConvertRequest(engine="test", voice="short"))
        for _ in range(200):
            if (await job_state(js, submission.job_id)).total_segments:
                break
            await asyncio.sleep(0.1)
        assert await operator.pause_job(submission.job_id) > 0, "its queued segments are set aside"
        assert (await operator.job(submission.job_id)).status == PAUSED
        with pytest.raises(JobStateError, match="is paused: only a running job can be paused"):
            await operator.pause_job(submission.job_id)
        resumed = await operator.unpause_job(submission.job_id)
        assert resumed.sent and resumed.job_id == submission.job_id
        for _ in range(200):
            if (await job_state(js, submission.job_id)).generation == 1:
                break
            await asyncio.sleep(0.1)
        assert (await operator.job(submission.job_id)).generation == 1
        with pytest.raises(JobStateError, match="not paused"):
            await operator.unpause_job(submission.job_id)
        until = await operator.pause_engines(["test"])
        assert until.tzinfo is not None and await operator.paused_engines() == ["test"]
        await operator.unpause_engines(["test"])
        assert await operator.paused_engines() == []


async def test_no_server_is_one_error() -> None:
    with pytest.raises(Unreachable, match=r"cannot reach NATS at nats://127\.0\.0\.1:1"):
        async with connect("nats://127.0.0.1:1"):
            pass


async def test_the_script_in_the_docs_converts_a_book(js, settings, tmp_path: Path) -> None:
    """docs/client.md's example, run as it is written, against a real server and pipeline."""
    text = (ROOT / "docs" / "client.md").read_text(encoding="utf-8")
    script = tmp_path / "convert.py"
    script.write_text(text.split("```python\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    book = write_sample_book(tmp_path / "sample.epub")
    async with running(["parse", "tts", "assemble"], settings):
        done = await asyncio.to_thread(python, str(script), str(settings.nats_url), str(book), "test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"completed {book.with_suffix('.m4b')}" and re.fullmatch(r"\d+/\d+ segments", lines[0])
    assert book.with_suffix(".m4b").stat().st_size > 1000
