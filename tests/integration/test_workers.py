"""Two tts workers bound to the one durable consumer share the queue without duplicates."""

import asyncio
import dataclasses
import shutil

import nats

from events.projection import COMPLETED
from events.types import JobAccepted, SegmentSynthesized
from services.tts.worker import TtsWorker
from tests.conftest import book, wait_for
from tests.integration.helpers import all_events, job_events, job_state, running


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
                found = [e.job_id for e in await all_events(js) if isinstance(e, JobAccepted)]
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
    """The model runs in its own thread: the worker's event loop answers while it is busy."""
    import time

    import orjson

    from events import names
    from services.app.sample import write_sample_book
    from services.bus.topology import workers_bucket

    write_sample_book(settings.input_dir / "sample.epub")
    slow = dataclasses.replace(settings, worker_name="busy-worker")  # 400-char segments: ~1.6 s each
    async with running(["parse", "tts"], slow):
        await client.publish("convert.request", b'{"source": "sample.epub", "engine": "test", "voice": "slow"}')

        async def busy():
            try:
                reply = await client.request(names.WORKER_STATUS_SUBJECT, b"", timeout=1.0)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                return None  # the worker has not subscribed yet
            status = orjson.loads(reply.data)
            return status if status["state"] == "busy" else None

        status = await wait_for(busy, timeout=30)
        assert status["name"] == "busy-worker" and status["current"].startswith("job j")
        assert status["voices_loaded"] == ["test/slow"]
        latencies = []
        for _ in range(5):  # while the model is running
            started = time.perf_counter()
            reply = await client.request(names.WORKER_STATUS_SUBJECT, b"", timeout=1.0)
            latencies.append(time.perf_counter() - started)
            assert orjson.loads(reply.data)["state"] == "busy"
            await asyncio.sleep(0.05)
        assert max(latencies) < 0.5, latencies
        heartbeat = orjson.loads((await (await workers_bucket(js)).get("busy-worker")).value)
        assert heartbeat["name"] == "busy-worker" and heartbeat["type"] == "worker.status"
