"""Engines share one stack: a job reaches only workers that run its engine; until one is there it waits.

A CPU worker (piper, test) and a Coqui worker (a tiny VITS built at test time, loaded through
Coqui's real loader) serve one stack. A request naming Coqui waits, not failed, while only the
CPU worker runs; once the Coqui worker starts, it does every segment and the CPU worker none.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from events.projection import COMPLETED, PARSED, waiting_for
from events.types import JobAccepted, SegmentFailed, SegmentSynthesized
from services.app.sample import write_sample_book
from services.bus.control import fleet_status
from services.bus.jobs import queue_depths, served_engines
from services.testing.waiting import job_events, job_state, read_events, wait_for
from tests.integration.helpers import running


def needs_coqui() -> None:
    """Skip unless coqui-tts and the system parts it needs (espeak-ng, FFmpeg's libraries) are here."""
    import shutil

    from services.engines.espeak import espeak_program

    pytest.importorskip("TTS", reason="coqui-tts is not installed (pip install .[coqui])")
    if espeak_program() is None or shutil.which("ffmpeg") is None:
        pytest.skip("Coqui needs espeak-ng and FFmpeg from the system (scripts/setup installs them as root)")


@pytest.fixture
def coqui_voices_dir(tmp_path: Path) -> Path:
    needs_coqui()
    from services.testing.coqui_models import build_tiny_vits

    build_tiny_vits(tmp_path / "voices" / "tiny-vits")
    return tmp_path / "voices"


async def test_a_coqui_job_reaches_only_the_coqui_worker(js, client, settings, coqui_voices_dir) -> None:
    settings = dataclasses.replace(settings, voice_dirs=(coqui_voices_dir,))
    write_sample_book(settings.input_dir / "sample.epub")
    cpu = dataclasses.replace(settings, engines=("piper", "test"), worker_name="cpu-worker")
    gpu = dataclasses.replace(settings, engines=("coqui",), worker_name="coqui-worker", device="cpu")
    async with running(["parse", "assemble"], settings), running(["tts"], cpu):
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "coqui", "voice": "tiny-vits"}')
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "short"}')

        async def accepted() -> dict[str, str] | None:
            found = {e.engine: e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)}
            return found if len(found) == 2 else None

        jobs = await wait_for(accepted)

        async def test_job_done() -> bool:
            return (await job_state(js, jobs["test"])).status == COMPLETED

        await wait_for(test_job_done, timeout=60)
        await asyncio.sleep(1.0)  # time for a wrongly routed coqui segment to show up
        waiting = await job_state(js, jobs["coqui"])
        served = served_engines(await fleet_status(client))
        assert served == {"piper", "test"}
        assert waiting.status == PARSED and waiting.done_segments == 0 and not waiting.failed_segments
        assert waiting_for(waiting, served) == "waiting for a coqui worker"
        depths = {d.engine: d for d in await queue_depths(js)}
        assert depths["coqui"].pending == waiting.total_segments > 0 and depths["piper"].pending == 0

        async with running(["tts"], gpu):
            async def coqui_done() -> bool:
                return (await job_state(js, jobs["coqui"])).status == COMPLETED

            await wait_for(coqui_done, timeout=180)
            status = {s["name"]: s for s in await fleet_status(client) if s.get("role") == "tts"}

    events = await job_events(js, jobs["coqui"])
    done = [e for e in events if isinstance(e, SegmentSynthesized)]
    assert done and {e.worker for e in done} == {"coqui-worker"}, "the CPU worker never got a Coqui job"
    assert not [e for e in events if isinstance(e, SegmentFailed)]
    assert {e.worker for e in await job_events(js, jobs["test"]) if isinstance(e, SegmentSynthesized)} == {"cpu-worker"}
    coqui_worker = next(s for s in status.values() if s.get("engines") == ["coqui"])
    assert coqui_worker["voices"] == {"coqui": ["tiny-vits"]} and coqui_worker["voices_loaded"] == ["coqui/tiny-vits"]
    state = await job_state(js, jobs["coqui"])
    assert (state.engine, state.voice) == ("coqui", "tiny-vits")


async def test_a_voice_cloned_from_an_uploaded_recording(js, client, settings, tmp_path) -> None:
    needs_coqui()
    import hashlib
    import subprocess

    from events import names
    from events.projection import REJECTED
    from events.requests import request_ref
    from services.bus.topology import object_store
    from services.engines.espeak import espeak_program
    from services.testing.coqui_models import build_tiny_xtts

    reference = tmp_path / "me.wav"
    subprocess.run([espeak_program() or "espeak-ng", "-w", str(reference),
                    "This is how I sound when I read a book aloud."], check=True)
    build_tiny_xtts(tmp_path / "voices" / "tiny-xtts", reference)
    settings = dataclasses.replace(settings, voice_dirs=(tmp_path / "voices",), engines=("coqui",),
                                   worker_name="cloning-worker")
    write_sample_book(settings.input_dir / "sample.epub")
    uploads = await object_store(js, names.UPLOADS_BUCKET)
    await uploads.put("me.wav", reference.read_bytes())
    await uploads.put("noise.wav", b"RIFF but not really a WAV file")
    sha = hashlib.sha256(reference.read_bytes()).hexdigest()
    bad = [b'{"source": "sample.epub", "engine": "coqui", "voice": "tiny-xtts", "speaker": {"object": "noise.wav"}}',
           b'{"source": "sample.epub", "engine": "piper", "speaker": {"object": "me.wav"}}']
    async with running(["parse", "tts", "assemble"], settings):
        # its first chapter (three segments): XTTS's full-size HiFi-GAN decoder takes seconds a segment on a CPU
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "coqui", "voice": "tiny-xtts", '
                                                b'"speaker": {"object": "me.wav"}, "chapters": "1"}')
        for raw in bad:
            await client.publish("convert.request", raw)

        async def accepted() -> str | None:
            found = [e.job_id for e in await read_events(js) if isinstance(e, JobAccepted) and e.speaker_sha256 == sha]
            return found[0] if found else None

        job = await wait_for(accepted)

        async def done() -> bool:
            return (await job_state(js, job)).status == COMPLETED

        await wait_for(done, timeout=240)
        rejected = [await job_state(js, request_ref(raw)) for raw in bad]
    state = await job_state(js, job)
    assert (state.engine, state.voice) == ("coqui", f"tiny-xtts/@{sha}") and state.requested_speaker == sha
    kept = await (await object_store(js, names.AUDIO_BUCKET)).get_info(names.speaker_object(sha))
    assert kept.size == reference.stat().st_size, "the recording is kept where every worker finds it"
    assert (settings.data_dir / "speakers" / f"{sha}.wav").read_bytes() == reference.read_bytes()
    assert {e.worker for e in await job_events(js, job) if isinstance(e, SegmentSynthesized)} == {"cloning-worker"}
    assert all(r.status == REJECTED for r in rejected)
    assert "not a readable WAV" in rejected[0].reason
    assert "needs the coqui engine" in rejected[1].reason
