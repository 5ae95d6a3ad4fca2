"""Size limits hold on the bytes read, not on what an object's description claims.

A client writes an object's description (``$O.<bucket>.M.<name>``) itself: here a 2.5 MB book and
a 20 MB+ recording are each described as 1,000 bytes, and are still refused, by the reader and by
the parse service (a ``job.rejected`` for each, the service still running). Requests with numbers
out of range are rejected beside them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import orjson
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.js.object_store import OBJ_DEFAULT_CHUNK_SIZE, ObjectStore

from events import names
from events.requests import ConvertRequest
from events.types import JobRejected
from services.bus.ephemeral import ObjectDamaged, ObjectTooBig, download_object
from services.bus.objects import meta_subject
from services.bus.topology import object_store
from services.parse.limits import BookTooBig
from services.parse.source import SourceError, copy_bounded, fetch_source
from services.parse.speaker import MAX_SPEAKER_BYTES, SpeakerError, fetch_speaker
from services.settings import Settings
from services.testing.waiting import read_events, wait_for
from tests.integration.helpers import running

BOOK_LIMIT = 1_000_000


async def forge(js: JetStreamContext, bucket: str, name: str, **changes: object) -> None:
    """Rewrite object ``name``'s description as a client can: publish a new one on its subject."""
    info = await (await object_store(js, bucket)).get_info(name)
    forged = dataclasses.replace(info, **changes)  # type: ignore[arg-type]
    await js.publish(meta_subject(bucket, name), orjson.dumps(forged.as_dict()), stream=names.object_stream(bucket),
                     headers={Header.ROLLUP: MSG_ROLLUP_SUBJECT})


async def uploads(js: JetStreamContext) -> ObjectStore:
    return await object_store(js, names.UPLOADS_BUCKET)


async def test_a_download_is_counted_and_stops_past_its_limit(js: JetStreamContext, client: Client,
                                                                tmp_path: Path) -> None:
    store = await uploads(js)
    data = os.urandom(3 * OBJ_DEFAULT_CHUNK_SIZE - 5)
    await store.put("three-chunks.bin", data)
    await store.put("empty.bin", b"")
    subscriptions = len(client._subs)
    with open(tmp_path / "out", "wb+") as handle:
        assert await download_object(store, "three-chunks.bin", handle, max_bytes=len(data)) == len(data)
        assert await download_object(store, "empty.bin", handle) == 0
        with pytest.raises(ObjectTooBig, match="holds more than"):
            await download_object(store, "three-chunks.bin", handle, max_bytes=len(data) - 1)
        assert handle.tell() <= 2 * OBJ_DEFAULT_CHUNK_SIZE  # stopped at the chunk that passed the limit
    with open(tmp_path / "again", "wb") as handle:
        assert await download_object(store, "three-chunks.bin", handle) == len(data)
    assert (tmp_path / "again").read_bytes() == data
    assert len(client._subs) == subscriptions, "every read gives its subscription back"


async def test_a_forged_description_neither_hides_nor_invents_bytes(js: JetStreamContext, tmp_path: Path) -> None:
    store = await uploads(js)
    await store.put("book.epub", os.urandom(300_000))
    await forge(js, names.UPLOADS_BUCKET, "book.epub", size=0, chunks=0)
    with open(tmp_path / "out", "wb") as handle, pytest.raises(ObjectTooBig):  # "empty", yet its chunks count
        await download_object(store, "book.epub", handle, max_bytes=200_000)
    await forge(js, names.UPLOADS_BUCKET, "book.epub", digest="SHA-256=" + "A" * 43)
    with open(tmp_path / "out", "wb") as handle, pytest.raises(ObjectDamaged, match="do not match its digest"):
        await download_object(store, "book.epub", handle)
    await forge(js, names.UPLOADS_BUCKET, "book.epub", nuid="NOCHUNKSHERE", size=1000)
    with open(tmp_path / "out", "wb") as handle, pytest.raises(ObjectDamaged, match="chunks are missing"):
        await download_object(store, "book.epub", handle)  # at once, not a wait for chunks that never come


async def test_a_book_claiming_1000_bytes_is_refused_on_what_it_holds(js: JetStreamContext, tmp_path: Path) -> None:
    store, kept = await uploads(js), await object_store(js)
    await store.put("big.epub", os.urandom(2_500_000))
    request = ConvertRequest(source_object="big.epub")
    with pytest.raises(BookTooBig, match=r"the book is 2\.5 MB; this server accepts up to 1\.0 MB"):
        await fetch_source(request, store, kept, tmp_path / "source", None, BOOK_LIMIT)  # the early refusal
    await forge(js, names.UPLOADS_BUCKET, "big.epub", size=1000)
    assert (await store.get_info("big.epub")).size == 1000
    with pytest.raises(BookTooBig, match=r"the book is more than 1\.0 MB; this server accepts up to 1\.0 MB"):
        await fetch_source(request, store, kept, tmp_path / "source", None, BOOK_LIMIT)
    assert (tmp_path / "source").stat().st_size <= BOOK_LIMIT


async def test_a_recording_claiming_1000_bytes_is_refused_on_what_it_holds(js: JetStreamContext) -> None:
    store, kept = await uploads(js), await object_store(js)
    await store.put("me.wav", os.urandom(MAX_SPEAKER_BYTES + OBJ_DEFAULT_CHUNK_SIZE))
    await forge(js, names.UPLOADS_BUCKET, "me.wav", size=1000)
    with pytest.raises(SpeakerError, match=r"the reference recording is more than 20 MB; the limit is 20 MB"):
        await fetch_speaker("me.wav", store, kept)


def test_a_local_book_is_copied_only_up_to_the_limit(tmp_path: Path) -> None:
    """A file in the input folder may grow after it was looked at: the copy counts what it reads."""
    (tmp_path / "big.epub").write_bytes(bytes(3 * BOOK_LIMIT))
    with pytest.raises(BookTooBig, match=r"more than 1\.0 MB"):
        copy_bounded(tmp_path / "big.epub", tmp_path / "copy", BOOK_LIMIT)
    assert (tmp_path / "copy").stat().st_size <= BOOK_LIMIT
    (tmp_path / "small.epub").write_bytes(b"x" * BOOK_LIMIT)
    copy_bounded(tmp_path / "small.epub", tmp_path / "copy", BOOK_LIMIT)
    assert (tmp_path / "copy").read_bytes() == b"x" * BOOK_LIMIT


def cloning_model_files(voices: Path) -> Path:
    """An XTTS model folder as the parse service sees one: it lists voices from their files alone."""
    folder = voices / "clone"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model": "xtts", "languages": ["en"]}', encoding="utf-8")
    (folder / "model.pth").write_bytes(b"")
    return voices


async def test_the_parse_service_rejects_forged_sizes_and_bad_numbers(js: JetStreamContext, client: Client,
                                                                      settings: Settings, tmp_path: Path) -> None:
    store = await uploads(js)
    await store.put("big.epub", os.urandom(2_500_000))
    await forge(js, names.UPLOADS_BUCKET, "big.epub", size=1000)
    await store.put("me.wav", os.urandom(MAX_SPEAKER_BYTES + OBJ_DEFAULT_CHUNK_SIZE))
    await forge(js, names.UPLOADS_BUCKET, "me.wav", size=1000)
    (settings.input_dir / "small.txt").write_text("A short book.", encoding="utf-8")
    bad = {
        b'{"source": {"object": "big.epub"}, "engine": "test"}': "the book is more than 1.0 MB",
        b'{"source": "small.txt", "engine": "coqui", "voice": "clone", "speaker": {"object": "me.wav"}}':
            "the reference recording is more than 20 MB",
        b'{"source": "small.txt", "speed": NaN}': '"speed" must be a number from 0.25 to 4',
        b'{"source": "small.txt", "speed": 1e-9}': '"speed" must be a number from 0.25 to 4',
        b'{"source": "small.txt", "speed": -Infinity}': '"speed" must be a number from 0.25 to 4',
        b'{"source": "small.txt", "pauses": {"chapter": -1}}': "whole milliseconds from 0 to 10000",
        b'{"source": "small.txt", "pauses": "chapter=1e-9"}': "whole milliseconds from 0 to 10000",
        b'{"source": "small.txt", "chapters": "0"}': '"chapters"',
    }
    limited = dataclasses.replace(settings, max_book_bytes=BOOK_LIMIT,
                                  voice_dirs=(cloning_model_files(tmp_path / "voices"),))
    async with running(["parse"], limited) as task:
        for raw in bad:
            await client.publish(names.REQUEST_SUBJECT, raw)

        async def all_rejected() -> list[str] | None:
            reasons = [e.reason for e in await read_events(js) if isinstance(e, JobRejected)]
            return reasons if len(reasons) == len(bad) else None

        reasons = " | ".join(await wait_for(all_rejected, timeout=60))
        assert not task.done(), "the service is still running"
    for reason in bad.values():
        assert reason in reasons, (reason, reasons)


async def test_a_file_planted_under_a_book_s_name_is_replaced_or_refused(js: JetStreamContext, tmp_path: Path) -> None:
    """Someone puts other bytes of the same size under the name a book will be uploaded as: the
    client's upload replaces them, and a request naming planted bytes is refused by what they hold."""
    from services.bus.uploads import object_digest, sha256_file, upload_book

    mine, theirs = tmp_path / "mine.epub", tmp_path / "theirs.epub"
    mine.write_bytes(b"my book " * 1000)
    theirs.write_bytes(b"not mine" * 1000)
    name = names.source_object(sha256_file(mine), ".epub")
    uploads = await object_store(js, names.UPLOADS_BUCKET)
    await uploads.put(name, theirs.read_bytes())  # planted: same name, same size, other bytes
    request = ConvertRequest(source_object=name, engine="test")
    with pytest.raises(SourceError, match="does not hold what its name says"):
        await fetch_source(request, uploads, await object_store(js), tmp_path / "got", None, BOOK_LIMIT)
    assert await upload_book(js, mine) == name
    assert (await uploads.get_info(name)).digest == object_digest(mine), "the planted bytes were replaced"
    got = await fetch_source(request, uploads, await object_store(js), tmp_path / "got", None, BOOK_LIMIT)
    assert got.sha256 == sha256_file(mine)
