"""Topology is created idempotently, survives a server restart, and keeps its data."""

import asyncio

import nats
import pytest

from events import names
from services.app.stack import start_nats_server
from services.app.supervise import stop_process
from services.bus.topology import ensure_topology
from services.voices import LISTED_ENGINES


async def test_topology_is_idempotent_across_restarts(store_dir, settings) -> None:
    proc, url = start_nats_server(store_dir)
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_topology(js, settings)
        await ensure_topology(js, settings)  # twice in a row: no error, no change
        await js.publish("events.jkeep.job.rejected", b"{}", headers={"Nats-Msg-Id": "keep-1"})
        await nc.close()
    finally:
        stop_process(proc)

    proc, url = start_nats_server(store_dir)  # same store: a restart
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_topology(js, settings)
        streams = {s.config.name for s in await js.streams_info()}
        assert {names.REQUESTS_STREAM, names.EVENTS_STREAM, names.SYNTH_STREAM} <= streams
        assert (await js.stream_info(names.EVENTS_STREAM)).state.messages == 1
        for stream, durable in ((names.REQUESTS_STREAM, names.PARSE_CONSUMER),
                                *((names.SYNTH_STREAM, names.engine_consumer(e)) for e in LISTED_ENGINES),
                                (names.EVENTS_STREAM, names.ASSEMBLE_CONSUMER)):
            info = await js.consumer_info(stream, durable)
            assert info.config.durable_name == durable
        assert (await js.key_value(names.CHECKPOINT_BUCKET)) is not None
        assert (await js.object_store(names.OBJECT_BUCKET)) is not None
        ack = await js.publish("events.jkeep.job.rejected", b"{}", headers={"Nats-Msg-Id": "keep-1"})
        assert ack.duplicate, "deduplication window survives the restart"
        await nc.close()
    finally:
        stop_process(proc)


async def test_request_published_with_no_parse_service_is_kept(js) -> None:
    await js.publish(names.REQUEST_SUBJECT, b'{"source": "x.epub"}')
    info = await js.consumer_info(names.REQUESTS_STREAM, names.PARSE_CONSUMER)
    assert info.num_pending == 1


async def test_a_store_from_before_per_engine_queues_is_upgraded(store_dir, settings) -> None:
    """The old single `tts` consumer overlaps the per-engine ones on a work queue: it goes, with its commands."""
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
    from nats.js.errors import NotFoundError

    proc, url = start_nats_server(store_dir)
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=names.SYNTH_STREAM, subjects=["synth.>"],
                                         retention=RetentionPolicy.WORK_QUEUE))
        await js.add_consumer(names.SYNTH_STREAM, ConsumerConfig(durable_name="tts", filter_subject="synth.>",
                                                                 ack_policy=AckPolicy.EXPLICIT))
        await js.publish("synth.jold.0.0", b"{}")  # a command in the old subject layout
        await ensure_topology(js, settings)
        with pytest.raises(NotFoundError):
            await js.consumer_info(names.SYNTH_STREAM, "tts")
        for engine in LISTED_ENGINES:
            info = await js.consumer_info(names.SYNTH_STREAM, names.engine_consumer(engine))
            assert info.config.filter_subject == f"synth.{engine}.>"
        assert (await js.stream_info(names.SYNTH_STREAM)).state.messages == 0
        await js.publish(names.synth_subject("piper", "jnew", 0, 0), b"{}")
        assert (await js.consumer_info(names.SYNTH_STREAM, "tts-piper")).num_pending == 1
        await nc.close()
    finally:
        stop_process(proc)


async def test_every_stream_and_bucket_has_a_byte_limit_that_fits_the_server(store_dir, settings, tmp_path) -> None:
    """A server with 3 GB of JetStream storage: the 100 GB audio store is fitted (halved until the
    server can reserve it); every stream and bucket has a limit, and a full one refuses new messages."""
    from services.bus.topology import STREAM_BYTES

    config = tmp_path / "small.conf"
    config.write_text("jetstream { max_file_store: 3GB }\n")
    proc, url = start_nats_server(store_dir, config=config)
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_topology(js, settings)
        limits = {s.config.name: s.config.max_bytes or -1 for s in await js.streams_info()}
        assert all(limit > 0 for limit in limits.values()), limits
        for stream, limit in STREAM_BYTES.items():
            assert limits[stream] <= limit
        for bucket in (names.OBJECT_BUCKET, names.AUDIO_BUCKET):
            stored = limits[names.object_stream(bucket)]
            assert 64 * 2**20 < stored < 3 * 10**9, f"{bucket}: fitted into what the server has ({stored:,})"
        assert sum(limits.values()) <= 3 * 2**30
        events = await js.stream_info(names.EVENTS_STREAM)
        assert str(events.config.discard).endswith("new"), "a full log refuses the new, never drops the old"
        await nc.close()
    finally:
        stop_process(proc)


async def test_a_disk_with_less_room_than_at_first_does_not_stop_the_stack(store_dir, settings, tmp_path) -> None:
    """The streams reserve what the server had at the first start; later the disk fills up and the
    server has less. Starting again must not ask for the same limits again (the server refuses any
    update then, even an unchanged one): `audiobook convert` stopped with 'insufficient storage'."""
    roomy, cramped = tmp_path / "roomy.conf", tmp_path / "cramped.conf"
    roomy.write_text("jetstream { max_file_store: 3GB }\n")
    cramped.write_text("jetstream { max_file_store: 1GB }\n")
    for config in (roomy, cramped):
        proc, url = start_nats_server(store_dir, config=config)
        try:
            nc = await nats.connect(url)
            js = nc.jetstream()
            await ensure_topology(js, settings)
            ack = await js.publish(names.REQUEST_SUBJECT, b'{"source": "x.epub"}', headers={"Nats-Msg-Id": str(config)})
            assert ack.stream == names.REQUESTS_STREAM
            await nc.close()
        finally:
            stop_process(proc)


async def test_a_server_with_no_room_is_one_clear_error(store_dir, settings, tmp_path) -> None:
    """Where not even a small limit fits, start-up says so in words, not with the server's error code."""
    from services.bus.topology import NoRoom

    config = tmp_path / "full.conf"
    config.write_text("jetstream { max_file_store: 20MB }\n")
    proc, url = start_nats_server(store_dir, config=config)
    try:
        nc = await nats.connect(url)
        with pytest.raises(NoRoom, match=r"no room to store .*: free disk space"):
            await ensure_topology(nc.jetstream(), settings)
        await nc.close()
    finally:
        stop_process(proc)


async def test_a_worker_waits_for_the_core_to_make_the_topology(client, settings) -> None:
    """A tts worker may make nothing (its role forbids it): started first, it waits, then begins."""
    from services.bus.topology import made_by_the_core, worker_needs

    js = client.jetstream()
    waiting = asyncio.create_task(made_by_the_core(js, worker_needs(["test"]), wait_s=0.2))
    await asyncio.sleep(1.0)
    assert not waiting.done(), "nothing to bind to yet"
    await ensure_topology(js, settings)
    await asyncio.wait_for(waiting, 5.0)


async def test_a_worker_waiting_for_the_core_stops_when_asked(settings, tmp_path) -> None:
    """A worker (tts or check) told to stop while it waits for the core's topology ends at once, as
    one whose parent died does (it was left running for good, reconnecting, when its convert was killed)."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    for role in ("check", "tts"):
        env = dict(os.environ, AUDIOBOOK_NATS_URL=str(settings.nats_url), AUDIOBOOK_DATA_DIR=str(tmp_path / role))
        proc = subprocess.Popen([sys.executable, "-m", "services", "serve", role], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            await asyncio.sleep(8.0)  # it starts, connects and waits: nothing is made on this server
            assert proc.poll() is None, "it waits for the core"
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
            log = out or ""
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode is not None and "waiting for the core services" in log, (role, log[-2000:])
