"""A 3-node JetStream cluster on loopback: a book converts with every stream and bucket
replicated 3 times, and still converts, to the same book, when a node is killed with SIGKILL
mid-book (the leader of the events stream, with a worker connected to it). The killed node
comes back and catches up."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import nats
import pytest

from events import names
from services.bus.connect import server_urls
from services.testing.cluster import Cluster, worker_model_runs
from services.testing.waiting import wait_for_events
from tests.conftest import book
from tests.faults import harness
from tests.faults.harness import Result, completed, result, synthesized

pytestmark = pytest.mark.slow
NODES = 3
# Die Verwandlung in ~60-character segments (several hundred), "spoken" by workers that each
# sleep a tenth of the audio's length: a mid-book kill lands while every node is busy
ENV = {"AUDIOBOOK_MAX_SEGMENT_CHARS": "60", "AUDIOBOOK_ACK_WAIT": "10", "AUDIOBOOK_SIMULATED_RTF": "0.1"}
REQUEST = b'{"source": "kafka.epub", "engine": "test", "voice": "short"}'
REPLICATED = (names.REQUESTS_STREAM, names.EVENTS_STREAM, names.SYNTH_STREAM, names.DEAD_STREAM,
              names.kv_stream(names.CHECKPOINT_BUCKET), names.object_stream(names.OBJECT_BUCKET),
              names.object_stream(names.UPLOADS_BUCKET))


def cluster_stack(tmp: Path) -> Cluster:
    """A 3-node cluster with parse, assemble and 3 tts workers spread over its nodes."""
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), inbox / "kafka.epub")
    stack = Cluster(tmp, env=dict(ENV, AUDIOBOOK_INPUT_DIR=str(inbox)), nodes=NODES)
    stack.start_server()
    return stack


async def submit(stack: Cluster) -> None:
    await harness.submit(stack.url, REQUEST, float(ENV["AUDIOBOOK_ACK_WAIT"]))


async def replicas_of(url: str) -> dict[str, tuple[int, int]]:
    """Per stream and durable consumer: (configured replicas, peers the leader reports besides itself)."""
    nc = await nats.connect(server_urls(url))
    js = nc.jetstream()
    try:
        found = {}
        for stream in REPLICATED:
            info = await js.stream_info(stream)
            found[stream] = (info.config.num_replicas or 1, len(info.cluster.replicas or ()) if info.cluster else 0)
        consumer = await js.consumer_info(names.EVENTS_STREAM, names.ASSEMBLE_CONSUMER)
        found["consumer " + names.ASSEMBLE_CONSUMER] = (NODES, len(consumer.cluster.replicas or ())
                                                        if consumer.cluster else 0)
        return found
    finally:
        await nc.close()


async def events_leader(url: str) -> str:
    nc = await nats.connect(server_urls(url))
    try:
        info = await nc.jetstream().stream_info(names.EVENTS_STREAM)
        assert info.cluster and info.cluster.leader
        return info.cluster.leader
    finally:
        await nc.close()


async def caught_up(url: str) -> bool:
    """Every replica of the events and synthesis streams is current again (not yet, while the
    rejoining node makes the cluster too busy to answer)."""
    nc = await nats.connect(server_urls(url))
    try:
        for stream in (names.EVENTS_STREAM, names.SYNTH_STREAM):
            try:
                cluster = (await nc.jetstream().stream_info(stream)).cluster
            except nats.errors.TimeoutError:
                return False
            peers = (cluster.replicas or []) if cluster else []
            if len(peers) != NODES - 1 or not all(p.current and not p.offline for p in peers):
                return False
        return True
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, dict[str, tuple[int, int]]]:
    """A clean run on the cluster: the finished book, and how its streams are replicated."""
    async def run() -> tuple[Result, dict[str, tuple[int, int]]]:
        tmp = tmp_path_factory.mktemp("cluster-clean")
        stack = cluster_stack(tmp)
        try:
            stack.start_services(workers=NODES)
            await submit(stack)
            await wait_for_events(stack.url, completed, timeout=150)
            return await result(stack.url, tmp), await replicas_of(stack.url)
        finally:
            stack.stop()
    return asyncio.run(run())


def test_a_book_converts_on_a_cluster_with_every_stream_replicated(
        clean: tuple[Result, dict[str, tuple[int, int]]]) -> None:
    got, replicas = clean
    assert replicas == {name: (NODES, NODES - 1) for name in replicas}, replicas
    assert got.segments > 300 and got.completions == 1 and got.redone == 0


async def test_a_node_killed_mid_book_loses_nothing_and_catches_up(
        tmp_path: Path, clean: tuple[Result, dict[str, tuple[int, int]]]) -> None:
    want = clean[0]
    stack = cluster_stack(tmp_path)
    try:
        stack.start_services(workers=NODES)
        await submit(stack)
        before = await wait_for_events(stack.url, lambda events: len(synthesized(events)) >= want.segments // 4,
                                       timeout=90)
        leader = await events_leader(stack.url)
        victim = int(leader.rsplit("-n", 1)[1])
        stack.kill(f"nats{victim}")
        at_kill = len({(e.chapter, e.index) for e in synthesized(before)})  # done just before the kill
        assert not completed(before)
        await wait_for_events(stack.url, completed, timeout=150)
        got = await result(stack.url, tmp_path)
        runs = await worker_model_runs(stack.url)
        stack.start_server(victim)  # same port, same store: it rejoins and catches up
        deadline = asyncio.get_running_loop().time() + 30
        while not await caught_up(stack.url):
            assert asyncio.get_running_loop().time() < deadline, "the restarted node did not catch up"
            await asyncio.sleep(0.2)
        for name, proc in stack.procs.items():
            assert proc.poll() is None, f"{name} survived losing its node"
    finally:
        stack.stop()
    print(f"\nFAULT cluster-node-killed node={victim} (events leader) done_at_kill={at_kill} "
          f"segments={got.segments} model_runs={runs} (the log shows {got.model_runs}) "
          f"redone={runs - got.distinct_audio}")
    assert at_kill < want.segments, "killed mid-book"
    assert got.job_id == want.job_id and got.segments == want.segments
    assert got.chapter_samples == want.chapter_samples, "every segment exactly once"
    assert got.m4b_chapters == want.m4b_chapters and abs(got.m4b_seconds - want.m4b_seconds) < 0.05
    assert got.read_along == want.read_along and got.read_along.count("-->") > 10, "the same timings, resumed"
    assert got.completions == 1
    # each worker holds at most a few commands in hand; those of the worker whose node died
    # may be synthesized again, nothing else
    assert runs >= got.distinct_audio, "every distinct audio was synthesized"
    assert runs - got.distinct_audio <= 8, f"{runs - got.distinct_audio} segments synthesized twice"
