"""Segment audio written and read in one message each way, in the object store's own format."""

from __future__ import annotations

import os

from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.object_store import OBJ_DEFAULT_CHUNK_SIZE

from events import names
from services.bus.ephemeral import read_object
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
