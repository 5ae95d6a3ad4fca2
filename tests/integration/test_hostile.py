"""Messages an outsider can send with a plain NATS client: none stops a service or stalls a job.

Each case is one reported in the hostile-bus issue; the services run on a real nats-server
and a good book must still convert while they are sent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import orjson

from events import names
from events.projection import COMPLETED, REJECTED
from events.requests import job_id_for, request_ref
from events.types import JobRejected
from services.bus.jobs import dead_letters, rebuild_state
from services.bus.uploads import sha256_file
from services.testing.waiting import read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running

GOOD = {"source": {"path": "novel.epub"}, "engine": "test", "voice": "short"}


async def test_malformed_and_misplaced_messages_stop_nothing(js, client, settings) -> None:
    novel = shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "novel.epub")
    job = job_id_for(sha256_file(novel), "test", "short", 1.0)
    os.symlink(settings.input_dir / "loop-b", settings.input_dir / "loop-a")
    os.symlink(settings.input_dir / "loop-a", settings.input_dir / "loop-b")
    requests = [
        orjson.dumps({"source": {"path": "nul\x00byte.epub"}, "engine": "test"}),
        orjson.dumps({"source": {"path": "n" * 300 + ".epub"}, "engine": "test"}),
        orjson.dumps({"source": {"path": "loop-a"}, "engine": "test"}),
    ]
    async with running(["parse", "tts", "assemble"], settings) as task:
        # before the user submits: garbage where the completion will go, a wrong-typed event,
        # an event of another job on this job's subject, and a synthesis job with a bad subject
        await client.publish(names.event_subject(job, "job.completed"), b"\x00 not json")
        await client.publish(names.event_subject(job, "segment.synthesized"), orjson.dumps(
            {"type": "segment.synthesized", "v": 1, "job_id": job, "chapter": "0", "index": 0,
             "audio_object": "audio/x.aac", "samples": 1024, "sample_rate": 22050}))
        await client.publish(names.event_subject(job, "job.rejected"), orjson.dumps(
            {"type": "job.rejected", "v": 1, "job_id": "jsomeoneelse", "reason": "forged"}))
        await client.publish(f"{names.SYNTH_PREFIX}.test.{job}.x.y", b"{}")
        await client.publish(names.event_subject("jnobodyknows", "job.completed"), b"garbage for no job")
        for raw in requests:
            await client.publish(names.REQUEST_SUBJECT, raw)
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(GOOD))
        await client.flush()

        async def completed() -> bool:
            return (await rebuild_state(js, job)).status == COMPLETED

        await wait_for(completed, timeout=60)
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(GOOD))  # a repeat request after the bad subject

        async def answered() -> bool:
            return sum(isinstance(e, JobRejected) for e in await read_events(js)) >= len(requests)

        await wait_for(answered, timeout=30)
        assert not task.done(), "the services are still running"
    reasons = {request_ref(raw): (await rebuild_state(js, request_ref(raw))) for raw in requests}
    assert all(state.status == REJECTED for state in reasons.values())
    text = " | ".join(state.reason for state in reasons.values())
    assert "contains a NUL character" in text
    assert "(File name too long)" in text
    assert "cannot read source path 'loop-a' (a loop of symbolic links)" in text
    assert str(settings.input_dir) not in text, "rejections do not reveal the server's directories"
    state = await rebuild_state(js, job)
    assert state.status == COMPLETED and state.done_segments == state.total_segments
    assert state.reason == "", "the forged rejection of another job did not touch this one"
    count, letters = await dead_letters(js)
    assert count >= 1 and any(letter.subject == f"synth.test.{job}.x.y" and letter.stage == "tts" for letter in letters)
    status = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services", "status", "--nats-url",
                                                      settings.nats_url], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert f"{job}  completed" in status.stdout
    assert "jnobodyknows" not in status.stdout, "garbage for an unknown job is no job, and breaks no listing"
    kept = await (await js.key_value(names.CHECKPOINT_BUCKET)).keys()
    assert job in kept and not set(reasons) & set(kept), "a rejected request's checkpoint does not stay"
    assert "message(s) given up on (dead letters)" in status.stdout and f"tts: synth.test.{job}.x.y" in status.stdout
    scripted = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services", "status", "--json",
                                                        "--nats-url", settings.nats_url],
                                       capture_output=True, text=True, timeout=60)
    report = orjson.loads(scripted.stdout)
    (mine,) = [j for j in report["jobs"] if j["job_id"] == job]
    assert mine["status"] == "completed" and mine["segments_done"] == mine["segments_total"] == state.total_segments
    assert mine["chapters"][0]["done"] == mine["chapters"][0]["total"] and report["dead_letters"] == count
