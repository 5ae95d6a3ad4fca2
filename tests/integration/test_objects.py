"""Segment audio written and read in one message each way, in the object store's own format."""

from __future__ import annotations

import os
from pathlib import Path

import nats
import orjson
import pytest
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.object_store import OBJ_DEFAULT_CHUNK_SIZE

from events import names
from services.app.stack import start_nats_server
from services.app.supervise import stop_process
from services.bus.ephemeral import ObjectTooBig, chunks_by_get, download_object, read_object
from services.bus.objects import chunk_subject, object_info, put_once
from services.bus.topology import object_store

BUCKET = names.OBJECT_BUCKET


async def chunks_stored(js: JetStreamContext) -> int:
    info = await js.stream_info(names.object_stream(BUCKET), subjects_filter=f"$O.{BUCKET}.C.>")
    return len(info.state.subjects or {})


async def test_written_here_read_by_nats_py_and_back(js: JetStreamContext) -> None:
    store = await object_store(js)
    data = os.urandom(5000)
    assert await put_once(js, store, BUCKET, "audio/a.aac", data, '{"samples": 1024}')
    got = await store.get("audio/a.aac")  # nats-py reads it: description, digest and chunk
    assert got.data == data and got.info.description == '{"samples": 1024}' and got.info.chunks == 1
    await store.put("audio/b.aac", b"written by nats-py", meta=ObjectMeta(name="audio/b.aac", description="d"))
    info = await object_info(js, BUCKET, "audio/b.aac")
    assert info is not None and info.description == "d" and info.size == len(b"written by nats-py")
    assert await read_object(js, store, BUCKET, "audio/b.aac") == b"written by nats-py"
    assert await read_object(js, store, BUCKET, "audio/a.aac") == data
    assert await object_info(js, BUCKET, "audio/none.aac") is None


async def test_the_first_writer_of_a_name_wins_and_the_second_leaves_nothing(js: JetStreamContext) -> None:
    store = await object_store(js)
    assert await put_once(js, store, BUCKET, "audio/same.aac", b"first", "1")
    assert not await put_once(js, store, BUCKET, "audio/same.aac", b"second", "2")
    assert (await store.get("audio/same.aac")).data == b"first"
    assert await chunks_stored(js) == 1  # the loser's chunk was removed


async def test_a_deleted_name_is_written_again(js: JetStreamContext) -> None:
    store = await object_store(js)
    assert await put_once(js, store, BUCKET, "audio/gone.aac", b"old", "1")
    await store.delete("audio/gone.aac")
    assert await object_info(js, BUCKET, "audio/gone.aac") is None
    assert await put_once(js, store, BUCKET, "audio/gone.aac", b"new", "2")
    assert (await store.get("audio/gone.aac")).data == b"new"


async def test_audio_over_one_chunk_goes_through_nats_py(js: JetStreamContext) -> None:
    store = await object_store(js)
    data = os.urandom(OBJ_DEFAULT_CHUNK_SIZE + 10)
    assert await put_once(js, store, BUCKET, "audio/long.aac", data, "long")
    info = await object_info(js, BUCKET, "audio/long.aac")
    assert info is not None and info.chunks == 2
    assert await read_object(js, store, BUCKET, "audio/long.aac") == data
    assert chunk_subject(BUCKET, info.nuid or "").startswith(f"$O.{BUCKET}.C.")


async def test_audio_is_read_from_its_bucket_and_from_before_it_had_one(js: JetStreamContext) -> None:
    """Workers write audio into the audio bucket only; audio a store kept before that, in the
    services' bucket, is still read by the core (``audio/`` names only: never a book)."""
    import pytest
    from nats.js.errors import ObjectNotFoundError

    from services.bus.ephemeral import read_audio

    audio, core = await object_store(js, names.AUDIO_BUCKET), await object_store(js)
    assert await put_once(js, audio, names.AUDIO_BUCKET, "audio/new.aac", b"new", "1")
    await core.put("audio/old.aac", b"old")
    await core.put(names.book_object("j1"), b"a book")
    assert await read_audio(js, audio, "audio/new.aac", earlier=core) == b"new"
    assert await read_audio(js, audio, "audio/old.aac", earlier=core) == b"old"
    with pytest.raises(ObjectNotFoundError):
        await read_audio(js, audio, "audio/old.aac")  # a worker has no earlier store to look in
    with pytest.raises(ObjectNotFoundError):  # an event naming a book gets no book
        await read_audio(js, audio, names.book_object("j1"), earlier=core)


async def test_an_object_is_read_chunk_by_chunk_when_no_consumer_can_be_made(tmp_path: Path) -> None:
    """A reader whose consumer is not made in time (here: the server refuses it; on a cluster, the
    node it was placed on is gone) reads the object with one get per chunk, every byte checked."""
    uploads = names.object_stream(names.UPLOADS_BUCKET)
    reads = [f"$JS.API.STREAM.INFO.{uploads}", f"$JS.API.STREAM.MSG.GET.{uploads}",
             f"$JS.API.DIRECT.GET.{uploads}", f"$JS.API.DIRECT.GET.{uploads}.>"]  # no CONSUMER.CREATE
    config = tmp_path / "server.conf"
    config.write_text("authorization { users = [\n"
                      '  {user: admin, password: a}\n'
                      f'  {{user: reader, password: r, permissions: {{publish: {orjson.dumps(reads).decode()},'
                      ' subscribe: ["_INBOX.>"]}}\n]}\n')
    proc, url = start_nats_server(tmp_path / "store", config=config)
    admin = await nats.connect(url, user="admin", password="a")
    reader = await nats.connect(url, user="reader", password="r")
    try:
        data = os.urandom(3 * OBJ_DEFAULT_CHUNK_SIZE - 5)
        await (await object_store(admin.jetstream(), names.UPLOADS_BUCKET)).put("three-chunks.bin", data)
        store = await object_store(reader.jetstream(), names.UPLOADS_BUCKET)
        with open(tmp_path / "out", "wb") as handle:
            assert await download_object(store, "three-chunks.bin", handle) == len(data)
        assert (tmp_path / "out").read_bytes() == data
        with open(tmp_path / "out", "wb") as handle, pytest.raises(ObjectTooBig):
            await download_object(store, "three-chunks.bin", handle, max_bytes=len(data) - 1)
        chunks = [c async for c in chunks_by_get(reader.jetstream(), uploads, chunk_subject(
            names.UPLOADS_BUCKET, (await store.get_info("three-chunks.bin")).nuid or ""))]
        assert [len(c) for c in chunks] == [OBJ_DEFAULT_CHUNK_SIZE, OBJ_DEFAULT_CHUNK_SIZE, OBJ_DEFAULT_CHUNK_SIZE - 5]
    finally:
        await reader.close()
        await admin.close()
        stop_process(proc)
