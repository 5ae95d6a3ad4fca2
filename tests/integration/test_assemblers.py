"""Two assemble instances racing on one job produce one book and one completed event."""

import asyncio
import dataclasses
import shutil

import nats

from events.projection import COMPLETED, fold
from events.types import JobAccepted, JobCompleted
from services.assemble.service import AssembleService
from services.testing.waiting import job_events, job_state, read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running


async def test_racing_assemblers_build_once(js, client, settings) -> None:
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "kafka.epub")
    async with running(["parse", "tts"], settings):  # no assembler yet: the job waits, ready
        await client.publish("convert.request", b'{"source": "kafka.epub", "engine": "test", "voice": "short"}')

        async def ready_job():
            events = await read_events(js)
            jobs = [e.job_id for e in events if isinstance(e, JobAccepted)]
            return jobs and fold(jobs[0], [e for e in events if e.job_id == jobs[0]]).ready_to_assemble and jobs[0]

        job = await wait_for(ready_job, timeout=120)

    stop = asyncio.Event()
    assemblers, connections = [], []
    for name in ("asm-a", "asm-b"):
        nc = await nats.connect(settings.nats_url)
        connections.append(nc)
        assemblers.append(await AssembleService.create(nc.jetstream(), dataclasses.replace(settings, worker_name=name)))
    tasks = [asyncio.create_task(a.run(stop)) for a in assemblers]  # both find the ready job on start-up
    try:
        async def completed():
            return (await job_state(js, job)).status == COMPLETED

        await wait_for(completed, timeout=120)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for nc in connections:
            await nc.close()
    assert sum(a.builds for a in assemblers) == 1, [a.builds for a in assemblers]
    assert len([e for e in await job_events(js, job) if isinstance(e, JobCompleted)]) == 1
