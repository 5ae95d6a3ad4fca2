"""Jobs share the work queue (real server, simulated model time): a short book submitted after a
long one is not held back until the long one is done, and no job has more than its window queued."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time

import orjson

from events import names
from events.projection import COMPLETED
from events.types import JobCompleted
from services.bus.jobs import queued_segments
from services.parse.decide import MIN_WINDOW
from services.testing.waiting import accepted_job, job_events, job_state, wait_for
from tests.conftest import book
from tests.integration.helpers import running

RTF = 0.04  # the instant engine sleeps 4% of the audio's length: about 45 s for Die Verwandlung


async def completion_time(js, job_id: str) -> float | None:
    done = [e for e in await job_events(js, job_id) if isinstance(e, JobCompleted)]
    return time.monotonic() if done else None


async def test_a_short_book_after_a_long_one_is_done_long_before_it(js, client, settings) -> None:
    settings = dataclasses.replace(settings, simulated_rtf=RTF)
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "long.epub")
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "short.epub")
    voice = {"engine": "test", "voice": "short"}
    async with running(["parse", "tts", "assemble"], settings):
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps({"source": "long.epub", "request_id": "long",
                                                                  **voice}))
        long_job = await wait_for(lambda: accepted_job(js, "long"))
        most_queued = 0

        async def watch_queue() -> None:
            nonlocal most_queued
            while True:
                most_queued = max(most_queued, len(await queued_segments(js, long_job)))
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch_queue())
        await asyncio.sleep(4)  # the long book is under way
        asked = time.monotonic()
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps({"source": "short.epub", "request_id": "short",
                                                                  **voice}))
        short_job = await wait_for(lambda: accepted_job(js, "short"))
        short_done = await wait_for(lambda: completion_time(js, short_job), timeout=120)

        async def long_finished() -> bool:
            return (await job_state(js, long_job)).status == COMPLETED

        assert not await long_finished(), "the short book finished first"
        await wait_for(long_finished, timeout=300)
        long_done = time.monotonic()
        watcher.cancel()
    long_state = await job_state(js, long_job)
    assert long_state.total_segments > 3 * MIN_WINDOW, "the long book is released a window at a time"
    short_wait, long_left = short_done - asked, long_done - asked
    print(f"\nshort book: done {short_wait:.1f} s after it was asked; the long book {long_left:.1f} s after; "
          f"at most {most_queued} of the long book's {long_state.total_segments} segments queued at once")
    assert short_wait < 0.4 * long_left, (short_wait, long_left)
    assert most_queued <= MIN_WINDOW + 2 * 16, most_queued  # its window: a worker holds at most 16


async def test_a_priority_above_what_the_stack_allows_is_refused_with_the_setting(js, client, settings) -> None:
    from events.requests import request_ref
    from events.types import JobRejected
    from services.testing.waiting import read_events

    settings = dataclasses.replace(settings, max_priority="normal")
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "short.epub")
    urgent = orjson.dumps({"source": "short.epub", "engine": "test", "voice": "short", "priority": "urgent"})
    async with running(["parse", "tts", "assemble"], settings):
        await client.publish(names.REQUEST_SUBJECT, urgent)

        async def refused() -> list[JobRejected]:
            return [e for e in await read_events(js) if isinstance(e, JobRejected) and e.job_id == request_ref(urgent)]

        (rejection,) = await wait_for(refused)
        assert "AUDIOBOOK_MAX_PRIORITY" in rejection.reason and '"normal"' in rejection.reason
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps({"source": "short.epub", "engine": "test",
                                                                  "voice": "short", "priority": "background",
                                                                  "request_id": "low"}))
        job = await wait_for(lambda: accepted_job(js, "low"))
        await wait_for(lambda: completion_time(js, job), timeout=60)
    assert (await job_state(js, job)).requested_priority == "background"


async def test_a_job_left_with_nothing_queued_is_released_when_parse_starts_again(js, client, settings) -> None:
    """A job whose segment events were handled by a parse that died before releasing after them has
    nothing queued and no event coming: the next parse finds it in the checkpoints and goes on."""
    settings = dataclasses.replace(settings, release_window=4, simulated_rtf=0.01)
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "kafka.epub")
    async with running(["tts", "assemble"], settings):
        async with running(["parse"], settings):
            await client.publish(names.REQUEST_SUBJECT, orjson.dumps({"source": "kafka.epub", "request_id": "left",
                                                                      "engine": "test", "voice": "short",
                                                                      "chapters": "1"}))
            job = await wait_for(lambda: accepted_job(js, "left"))

            async def some_done() -> bool:
                return any(c.done for c in (await job_state(js, job)).chapters)

            await wait_for(some_done, timeout=60)

        async def nothing_queued() -> bool:
            return not await queued_segments(js, job)

        await wait_for(nothing_queued, timeout=60)
        await asyncio.sleep(1.0)  # the last segments' events are in the log
        release = await js.pull_subscribe_bind(durable=names.RELEASE_CONSUMER, stream=names.EVENTS_STREAM)
        taken = 0
        while True:  # handled, as by a parse that died before it released anything after them
            try:
                msgs = await release.fetch(256, timeout=1.0)
            except TimeoutError:  # (nats-py raises it for an empty fetch)
                break
            for msg in msgs:
                await msg.ack()
            taken += len(msgs)
        left = await job_state(js, job)
        done = sum(len(c.done) for c in left.chapters)
        assert left.status != COMPLETED and done < left.total_segments, (done, left.total_segments)
        await asyncio.sleep(2.0)
        assert sum(len(c.done) for c in (await job_state(js, job)).chapters) == done, "nothing was left queued"
        async with running(["parse"], settings):

            async def completed() -> bool:
                return (await job_state(js, job)).status == COMPLETED

            await wait_for(completed, timeout=90)
    print(f"\n{done} of {left.total_segments} segments done when parse stopped; {taken} events taken; completed")
