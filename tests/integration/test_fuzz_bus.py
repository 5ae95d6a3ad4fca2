"""Property: whatever arrives on the subjects the services consume, they stay up and good jobs complete.

Hypothesis generates malformed requests, events and synthesis commands (random bytes, random
JSON, valid payloads with one field replaced by anything); they are published with a plain
client to a real nats-server while the three services run, then a good book is requested.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import names
from events.codec import encode
from events.projection import COMPLETED
from events.requests import job_id_for
from events.types import EVENT_TYPES, BookParsed, ChapterInfo, JobCompleted, SegmentSynthesized, SynthesizeSegment
from services.app.stack import start_nats_server
from services.app.supervise import stop_process
from services.bus.jobs import dead_letters, known_jobs, rebuild_state
from services.bus.topology import ensure_topology
from services.bus.uploads import sha256_file
from services.settings import Settings
from tests.conftest import book
from tests.integration.helpers import running

pytestmark = pytest.mark.slow
GOOD = {"source": {"path": "novel.epub"}, "engine": "test", "voice": "short"}
OTHER = "jzzzzzzzzzzzzzzzzzzzz"  # valid-looking payloads go to a job nobody owns (forgery is the permissions' part)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
EXAMPLES: list[dict[str, Any]] = [
    {"source": {"path": "novel.epub"}, "engine": "test", "voice": "short", "speed": 1.0},
    orjson.loads(encode(SegmentSynthesized(OTHER, 0, 0, "audio/x.aac", 1024, 22050))),
    orjson.loads(encode(BookParsed(OTHER, "T", "A", "en", (ChapterInfo(0, "One", 1, 3),)))),
    orjson.loads(encode(JobCompleted(OTHER, "books/x.m4b", 1.0, 1, 1))),
    orjson.loads(encode(SynthesizeSegment(OTHER, 0, 0, ("Hi.",), "test", "short", 1.0, 250, "k"))),
]


def mutated() -> st.SearchStrategy[bytes]:
    """A valid payload with one field (or the envelope) replaced by any JSON value."""
    def replace_one(example: dict[str, Any]) -> st.SearchStrategy[bytes]:
        return st.sampled_from(sorted(example)).flatmap(
            lambda key: json_values.map(lambda value: orjson.dumps({**example, key: value})))
    return st.sampled_from(EXAMPLES).flatmap(replace_one)


def payloads() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=64), json_values.map(orjson.dumps), mutated())


def subjects(job: str) -> st.SearchStrategy[str]:
    tokens = st.sampled_from([job, OTHER, "r1"])
    kinds = st.sampled_from(sorted(EVENT_TYPES))
    parts = st.sampled_from(["0", "1", "x", "99999999999999999999", "-1"])
    return st.one_of(
        st.just(names.REQUEST_SUBJECT),
        st.builds(lambda t, k: f"{names.EVENTS_PREFIX}.{t}.{k}", tokens, kinds),
        st.builds(lambda t, a, b: f"{names.SYNTH_PREFIX}.test.{t}.{a}.{b}", tokens, parts, parts),
    )


async def scenario(messages: list[tuple[str, bytes]], folder: Path) -> None:
    inbox = folder / "inbox"
    inbox.mkdir()
    novel = shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), inbox / "novel.epub")
    job = job_id_for(sha256_file(novel), "test", "short", 1.0)
    server, url = start_nats_server(folder / "js")
    try:
        config = Settings(nats_url=url, data_dir=folder / "data", input_dir=inbox.resolve(), worker_name="fuzz",
                          ack_wait_s=10.0, max_deliver=2)
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_topology(js, config)
        async with running(["parse", "tts", "assemble"], config) as task:
            for subject, data in messages:
                await nc.publish(subject.replace("JOB", job), data)
            await nc.publish(names.REQUEST_SUBJECT, orjson.dumps(GOOD))
            await nc.flush()
            for _ in range(600):
                if (await rebuild_state(js, job)).status == COMPLETED:
                    break
                assert not task.done(), f"a service stopped: {task.exception() if task.done() else ''}"
                await asyncio.sleep(0.1)
            assert (await rebuild_state(js, job)).status == COMPLETED, "the good book converted"
            assert not task.done(), "the services are still running"
        for other in await known_jobs(js):  # `audiobook status` reads every job without crashing
            await rebuild_state(js, other)
        await dead_letters(js)
        await nc.close()
    finally:
        stop_process(server)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_message_stops_a_service_or_stalls_a_good_job(data: st.DataObject) -> None:
    messages = data.draw(st.lists(st.tuples(subjects("JOB"), payloads()), min_size=10, max_size=40))
    with tempfile.TemporaryDirectory(prefix="fuzz-bus-") as tmp:
        asyncio.run(scenario(messages, Path(tmp)))
