"""Two tts workers bound to the one durable consumer share the queue without duplicates."""

import asyncio
import dataclasses
import shutil

import nats
import orjson

from events import names
from events.projection import COMPLETED
from events.types import JobAccepted, SegmentSynthesized
from services.testing.waiting import job_events, job_state, read_events, wait_for
from services.tts.worker import TtsWorker
from tests.conftest import book
from tests.integration.helpers import running


async def test_two_workers_share_the_queue(js, client, settings) -> None:
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "kafka.epub")
    stop = asyncio.Event()
    workers, connections, tasks = [], [], []
    for name in ("worker-a", "worker-b"):
        nc = await nats.connect(settings.nats_url)
        worker = await TtsWorker.create(nc.jetstream(), dataclasses.replace(settings, worker_name=name))
        workers.append(worker)
        connections.append(nc)
        tasks.append(asyncio.create_task(worker.run(stop)))
    try:
        async with running(["parse", "assemble"], settings):
            await client.publish("convert.request", b'{"source": "kafka.epub", "engine": "test", "voice": "short"}')

            async def job_id():
                found = [e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)]
                return found[0] if found else None

            job = await wait_for(job_id)

            async def completed():
                return (await job_state(js, job)).status == COMPLETED

            await wait_for(completed, timeout=120)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for nc in connections:
            await nc.close()
    state = await job_state(js, job)
    events = [e for e in await job_events(js, job) if isinstance(e, SegmentSynthesized)]
    assert len(events) == state.total_segments > 100
    assert len({(e.chapter, e.index) for e in events}) == state.total_segments
    distinct_audio = len({e.audio_object for e in events})
    runs = [w.model_runs for w in workers]
    assert all(r > 0 for r in runs), f"both workers got work: {runs}"
    assert sum(runs) == distinct_audio, "no segment was synthesized twice"
    assert sum(runs) + sum(w.cache_hits for w in workers) == state.total_segments
    assert {e.worker for e in events} == {"worker-a", "worker-b"}


async def test_busy_worker_answers_status_requests(js, client, settings) -> None:
    """The model runs in its own thread: the worker's event loop answers nats micro while it is busy."""
    import time

    import orjson

    from events import names
    from services.app.sample import write_sample_book
    from services.bus.control import fleet, status_of

    write_sample_book(settings.input_dir / "sample.epub")
    slow = dataclasses.replace(settings, worker_name="busy-worker")  # 400-char segments: ~1.6 s each
    async with running(["parse", "tts"], slow):
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "slow"}')

        async def busy():
            workers = [status_of(r) for r in await fleet(client, wait=0.3) if r["name"] == "audiobook-tts"]
            # busy from the moment a command is taken; the voice is loaded a moment later
            loaded = workers and workers[0]["state"] == "busy" and workers[0]["voices_loaded"]
            return workers[0] if loaded else None

        status = await wait_for(busy, timeout=30)
        assert status["name"] == "busy-worker" and status["current"].startswith("job j")
        assert status["voices_loaded"] == ["test/slow"] and status["role"] == "tts"
        subject = names.control_subject("tts", status["id"], "status")
        latencies = []
        for _ in range(5):  # while the model is running
            started = time.perf_counter()
            reply = await client.request(subject, b"", timeout=1.0)
            latencies.append(time.perf_counter() - started)
            assert orjson.loads(reply.data)["state"] == "busy"
            await asyncio.sleep(0.05)
        assert max(latencies) < 0.5, latencies
        roles = {r["name"] for r in await fleet(client)}
        assert roles == {"audiobook-parse", "audiobook-tts"}


async def test_a_worker_loads_its_preloaded_voice_before_any_command(js, client, settings) -> None:
    """AUDIOBOOK_PRELOAD: the voice is loaded as the worker starts (the embedded stack names the
    request's), so the first segment does not wait for it; a voice that cannot load is skipped."""
    from services.bus.control import fleet, status_of

    preloading = dataclasses.replace(settings, worker_name="preloading", preload=("test/slow", "test/no-such-voice",
                                                                                  "espeak/en"))
    async with running(["tts"], dataclasses.replace(preloading, engines=("test",))):
        async def loaded():
            workers = [status_of(r) for r in await fleet(client, wait=0.3) if r["name"] == "audiobook-tts"]
            return workers[0] if workers and workers[0]["voices_loaded"] else None

        status = await wait_for(loaded, timeout=30)
        assert status["voices_loaded"] == ["test/slow"], "only the voice it serves and can load"
        assert status["model_runs"] == 0 and status["state"] == "idle"


async def test_a_drained_worker_finishes_its_segments_and_leaves_the_rest(js, client, settings) -> None:
    from events import names
    from services.app.sample import write_sample_book
    from services.bus.control import fleet, status_of

    write_sample_book(settings.input_dir / "sample.epub")
    small = dataclasses.replace(settings, max_segment_chars=100)
    stop = asyncio.Event()
    drained = TtsWorker(js, *(await _stores(js)), dataclasses.replace(small, worker_name="leaver"), client)
    leaving = asyncio.create_task(drained.run(stop))
    try:
        async with running(["parse", "assemble", "tts"], dataclasses.replace(small, worker_name="stayer")):
            await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "slow"}')

            async def leaver():
                found = [status_of(r) for r in await fleet(client, wait=0.3) if r["metadata"]["worker"] == "leaver"]
                return found[0] if found and found[0]["segments_done"] >= 1 else None

            status = await wait_for(leaver, timeout=60)
            reply = await client.request(names.control_subject("tts", status["id"], "drain"), b"", timeout=5)
            assert orjson.loads(reply.data)["state"] == "draining"
            await asyncio.wait_for(leaving, 30)  # it finished what it held and returned
            done_by_leaver = drained.model_runs

            async def completed():
                return [e for e in await read_events(js) if type(e).__name__ == "JobCompleted"]

            await wait_for(completed, timeout=120)
    finally:
        stop.set()
        await asyncio.gather(leaving, return_exceptions=True)
    events = [e for e in await read_events(js) if isinstance(e, SegmentSynthesized)]
    assert sum(1 for e in events if e.worker == "leaver") == done_by_leaver >= 1
    assert any(e.worker == "stayer" for e in events), "the other worker did the rest"


async def _stores(js):  # type: ignore[no-untyped-def]
    from services.bus.topology import checkpoints, object_store

    return await object_store(js, names.AUDIO_BUCKET), await checkpoints(js)
