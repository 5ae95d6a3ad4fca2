"""Fault tests: a job is running when a real process is killed with SIGKILL at a random point.

After each: the job completes; the M4B holds every segment exactly once, in order (its
chapters match a clean run of the same book exactly); and the segments synthesized again are
at most those in flight when the fault hit (counted from the event log).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import pytest
from mutagen.mp4 import MP4

from events import names
from services.app.sample import write_sample_book
from services.app.stack import RUNNING, stack_credentials, start_nats_server, store_lock
from services.app.supervise import stop_process
from services.bus.control import fleet_status
from services.testing.cluster import Cluster
from services.testing.processes import dump_stacks
from services.testing.waiting import events_at, wait_for_events
from tests.conftest import ROOT, book
from tests.e2e.test_cli import logged_segments
from tests.faults import harness
from tests.faults.harness import Result, completed, result, synthesized

pytestmark = pytest.mark.slow
SEEDS = [11, 22, 33]
SMALL = {"AUDIOBOOK_MAX_SEGMENT_CHARS": "100", "AUDIOBOOK_ACK_WAIT": "4"}
SAMPLE_REQUEST = b'{"source": "sample.epub", "engine": "test", "voice": "slow"}'


SAMPLE: list[Path] = []


def sample_epub(folder: Path) -> Path:
    """The sample book, written once per test session so every run is the same job."""
    if not SAMPLE:
        SAMPLE.append(write_sample_book(folder / "sample.epub"))
    return SAMPLE[0]


def cluster_for(tmp: Path, env: dict[str, str]) -> Cluster:
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_epub(tmp), inbox / "sample.epub")
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), inbox / "kafka.epub")
    cluster = Cluster(tmp, env=dict(env, AUDIOBOOK_INPUT_DIR=str(inbox)))
    cluster.start_server()
    return cluster


async def submit(cluster: Cluster, raw: bytes) -> None:
    await harness.submit(cluster.url, raw, float(SMALL["AUDIOBOOK_ACK_WAIT"]))


async def clean_run(tmp: Path, raw: bytes, env: dict[str, str]) -> Result:
    cluster = cluster_for(tmp, env)
    try:
        cluster.start_services()
        await submit(cluster, raw)
        await wait_for_events(cluster.url, completed, timeout=120)
        return await result(cluster.url, tmp)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Clean runs of the two books the fault cases use."""
    return {
        "sample": asyncio.run(clean_run(tmp_path_factory.mktemp("ref-sample"), SAMPLE_REQUEST, SMALL)),
        "kafka": asyncio.run(clean_run(tmp_path_factory.mktemp("ref-kafka"), KAFKA_REQUEST, KAFKA_ENV)),
    }


def same_book(got: Result, want: Result) -> None:
    assert got.job_id == want.job_id
    assert got.segments == want.segments
    assert got.chapter_samples == want.chapter_samples, "every segment exactly once: same audio per chapter"
    assert got.m4b_chapters == want.m4b_chapters
    assert got.read_along == want.read_along and got.read_along.count("-->") > 10, "the same timings, resumed"
    assert abs(got.m4b_seconds - want.m4b_seconds) < 0.05
    assert got.completions == 1


def report(case: str, seed: int, at_fault: str, got: Result) -> None:
    """One line per run, collected for docs/reliability.md (pytest -s shows them)."""
    print(f"\nFAULT {case} seed={seed} {at_fault} segments={got.segments} model_runs={got.model_runs} "
          f"distinct_audio={got.distinct_audio} redone={got.redone} completions={got.completions}")


def done_count(events) -> int:  # type: ignore[no-untyped-def]
    return len({(e.chapter, e.index) for e in synthesized(events)})


def segments_done(count: int):  # type: ignore[no-untyped-def]
    return lambda events: done_count(events) >= count


async def sample_job_part_done(cluster: Cluster, rng: random.Random, want: Result) -> None:
    """Start the services, submit the sample book, wait until a random number of segments is done."""
    cluster.start_services()
    await submit(cluster, SAMPLE_REQUEST)
    await wait_for_events(cluster.url, segments_done(rng.randint(1, want.segments - 4)), timeout=60)


@pytest.mark.parametrize("seed", SEEDS)
async def test_tts_worker_killed_mid_segment(tmp_path: Path, reference: dict[str, Result], seed: int) -> None:
    rng = random.Random(seed)
    want = reference["sample"]
    cluster = cluster_for(tmp_path, SMALL)
    try:
        await sample_job_part_done(cluster, rng, want)
        await asyncio.sleep(rng.uniform(0.0, 0.3))  # the worker is busy: segments take ~0.3 s
        cluster.kill("tts0")
        at_fault = done_count(await events_at(cluster.url))
        if seed % 2:  # sometimes the other worker finishes alone, sometimes the dead one comes back
            cluster.start("tts0", "tts", "--threads", "1")
        await wait_for_events(cluster.url, completed, timeout=90)
        got = await result(cluster.url, tmp_path)
    finally:
        cluster.stop()
    report("tts-worker-killed", seed, f"done_at_kill={at_fault} restarted={bool(seed % 2)}", got)
    assert at_fault < want.segments
    same_book(got, want)
    assert got.redone <= 1, "only the killed worker's in-flight segment may be redone"


KAFKA_ENV = {"AUDIOBOOK_MAX_SEGMENT_CHARS": "60", "AUDIOBOOK_ACK_WAIT": "3"}
KAFKA_REQUEST = b'{"source": "kafka.epub", "engine": "test", "voice": "short"}'


@pytest.mark.parametrize("seed", SEEDS)
async def test_parse_killed_while_queueing(tmp_path: Path, reference: dict[str, Result], seed: int) -> None:
    rng = random.Random(seed)
    want = reference["kafka"]
    cluster = cluster_for(tmp_path, KAFKA_ENV)
    try:
        cluster.start("parse", "parse")  # workers start later, so the queue only grows
        await submit(cluster, KAFKA_REQUEST)
        threshold = rng.randint(50, want.segments - 200)
        nc = await nats.connect(cluster.url)
        js = nc.jetstream()
        queued = 0
        deadline = time.monotonic() + 60
        while queued < threshold and time.monotonic() < deadline:
            queued = (await js.stream_info(names.SYNTH_STREAM)).state.messages
            await asyncio.sleep(0.002)
        cluster.kill("parse")
        at_kill = (await js.stream_info(names.SYNTH_STREAM)).state.messages
        await nc.close()
        assert 0 < at_kill < want.segments, f"killed mid-queue ({at_kill} of {want.segments} queued)"
        cluster.start("parse", "parse")
        cluster.start("assemble", "assemble")
        for number in range(2):
            cluster.start(f"tts{number}", "tts", "--threads", "1")
        await wait_for_events(cluster.url, completed, timeout=180)
        got = await result(cluster.url, tmp_path)
    finally:
        cluster.stop()
    report("parse-killed", seed, f"queued_at_kill={at_kill}", got)
    same_book(got, want)
    assert got.redone == 0, "nothing was synthesized twice"


@pytest.mark.parametrize("seed", SEEDS)
async def test_assemble_killed_while_building(tmp_path: Path, reference: dict[str, Result], seed: int) -> None:
    rng = random.Random(seed)
    want = reference["kafka"]
    cluster = cluster_for(tmp_path, KAFKA_ENV)
    try:
        cluster.start_services()
        await submit(cluster, KAFKA_REQUEST)

        # the build streams: it runs from book.parsed until the M4B is stored, so a kill part-way
        # through synthesis lands in the middle of it
        await wait_for_events(cluster.url, segments_done(int(rng.uniform(0.2, 0.9) * want.segments)), timeout=180)
        building = not completed(await events_at(cluster.url))
        killed = cluster.procs["assemble"].pid
        cluster.kill("assemble")
        half_built = list(Path(tempfile.gettempdir()).glob(f"audiobook-assemble-{killed}-*"))
        cluster.start("assemble", "assemble")
        await wait_for_events(cluster.url, completed, timeout=120)
        got = await result(cluster.url, tmp_path)
    finally:
        cluster.stop()
    report("assemble-killed", seed, f"killed_while_building={building}", got)
    same_book(got, want)
    assert got.redone == 0
    assert half_built or not building, "a build killed part-way leaves its folder (until the next start)"
    left = [folder for folder in half_built if folder.exists()]
    assert not left, f"the restarted assembler left the killed one's half-built book on disk: {left}"
    assert building or seed != SEEDS[0], "the first seed must hit the build itself"


def cli(args: list[str], data: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, AUDIOBOOK_DATA_DIR=str(data), **SMALL)
    env.pop("AUDIOBOOK_NATS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "services", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def log_tails(data: Path, lines: int = 40) -> str:
    """The last lines of every service's log in an embedded data directory (what a hang says)."""
    return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                     for log in sorted((data / "logs").glob("*.log")))


async def queue_report(data: Path) -> str:
    """The running embedded stack's synthesis queue and tts workers, as the server and the workers
    themselves say (what a conversion that does not finish leaves)."""
    try:
        port = json.loads((data / RUNNING).read_text())["port"]
        nc = await nats.connect(f"nats://127.0.0.1:{port}", user="admin", password=stack_credentials(data)["admin"])
    except Exception as exc:
        return f"(no queue report: {exc!r})"
    try:
        js = nc.jetstream()
        state = (await js.stream_info(names.SYNTH_STREAM)).state
        info = await js.consumer_info(names.SYNTH_STREAM, names.engine_consumer("test"))
        workers = [(s.get("name"), s.get("state"), s.get("in_flight"), s.get("segments_done"))
                   for s in await fleet_status(nc, 1.0) if s.get("role") == "tts"]
        return (f"queue: {state.messages} commands (seq {state.first_seq}-{state.last_seq}); {info.name}: "
                f"{info.num_pending} pending, {info.num_ack_pending} in hand, {info.num_waiting} pulls waiting, "
                f"delivered to #{info.delivered.stream_seq}, acknowledged to #{info.ack_floor.stream_seq}, "
                f"{info.num_redelivered} redelivered\ntts workers (name, state, in hand, done): {workers}")
    except Exception as exc:
        return f"(no queue report: {exc!r})"
    finally:
        await nc.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_convert_process_killed_then_run_again(tmp_path: Path, reference: dict[str, Result], seed: int) -> None:
    rng = random.Random(seed)
    want = reference["sample"]
    sample = shutil.copy(sample_epub(tmp_path), tmp_path / "sample.epub")
    args = ["convert", str(sample), "-o", str(tmp_path / "out.m4b"), "--engine", "test", "--voice", "slow",
            "--workers", "2", "-q"]
    first = cli(args, tmp_path / "data")
    time.sleep(rng.uniform(1.0, 3.5))  # start-up ~1.5 s, then ~0.4 s per segment per worker: >= 5 s in all
    os.kill(first.pid, signal.SIGKILL)  # only the CLI: its children must go down with it
    first.wait()
    with store_lock(tmp_path / "data" / "nats", wait_s=30) as lock:  # the old server is gone once we hold it
        server, url = start_nats_server(tmp_path / "data" / "nats", hold=lock)
        try:
            at_kill = done_count(asyncio.run(events_at(url)))
        finally:
            stop_process(server)
    assert at_kill < want.segments, f"killed mid-job ({at_kill} of {want.segments} done)"
    second = cli(args, tmp_path / "data")
    try:
        _, err = second.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        queue = asyncio.run(queue_report(tmp_path / "data"))
        dump_stacks(second.pid)  # each service's threads and tasks, into its log
        os.killpg(second.pid, signal.SIGKILL)
        pytest.fail(f"the second run did not finish in 120 s ({at_kill} done at the kill)\n{queue}\n"
                    f"{log_tails(tmp_path / 'data', 300)}")
    assert second.returncode == 0, err
    parsed, segments, _ = logged_segments(tmp_path / "data")
    latest = {(s.chapter, s.index): s for s in segments}
    assert len(latest) == want.segments
    samples = tuple(sum(s.samples for (c, _), s in latest.items() if c == ch.index) for ch in parsed.chapters)
    assert samples == want.chapter_samples
    runs = sum(1 for s in segments if not s.cache_hit)
    assert runs - want.distinct_audio <= 2, "at most the two in-flight segments are redone"
    chapters = tuple((c.title, round(c.start, 2)) for c in MP4(str(tmp_path / "out.m4b")).chapters)
    assert chapters == want.m4b_chapters
    print(f"\nFAULT convert-killed seed={seed} done_at_kill={at_kill} segments={len(latest)} model_runs={runs} "
          f"distinct_audio={want.distinct_audio} redone={runs - want.distinct_audio} completions=1")


@pytest.mark.parametrize("seed", SEEDS)
async def test_nats_server_restarted_mid_job(tmp_path: Path, reference: dict[str, Result], seed: int) -> None:
    rng = random.Random(seed)
    want = reference["sample"]
    cluster = cluster_for(tmp_path, SMALL)
    try:
        await sample_job_part_done(cluster, rng, want)
        cluster.kill("nats")
        outage = rng.uniform(0.2, 2.0)
        await asyncio.sleep(outage)
        cluster.start_server()  # same port, same store
        await wait_for_events(cluster.url, completed, timeout=120)
        got = await result(cluster.url, tmp_path)
        for name, proc in cluster.procs.items():
            assert proc.poll() is None, f"{name} survived the outage"
    finally:
        cluster.stop()
    report("nats-restarted", seed, f"outage_s={outage:.2f}", got)
    same_book(got, want)
    assert got.redone <= 2, "at most the in-flight segments are redone"
