"""The pipeline on a real nats-server, driven by a plain NATS client as a script would."""

import shutil

import orjson

from events import names
from events.projection import COMPLETED, REJECTED
from events.requests import request_ref
from events.types import JobAccepted, JobCompleted, JobRejected, SegmentSynthesized
from services.bus.topology import object_store
from services.testing.waiting import accepted_job, job_events, job_state, read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running


async def test_plain_client_request_is_converted(js, client, settings) -> None:
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "novel.epub")
    request = {"source": {"path": "novel.epub"}, "engine": "test", "voice": "short", "request_id": "plain-1"}
    async with running(["parse", "tts", "assemble"], settings):
        # plain core-NATS publish, no project helper: the REQUESTS stream captures it
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(request))
        await client.flush()
        job_id = await wait_for(lambda: accepted_job(js, "plain-1"))

        async def completed():
            return (await job_state(js, job_id)).status == COMPLETED

        await wait_for(completed, timeout=60)
        # the same book again: answered at once under the same job, nothing is redone, and the
        # request gets a terminal event of its own: the completion, re-announced
        again = dict(request, request_id="plain-2")
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(again))
        assert await wait_for(lambda: accepted_job(js, "plain-2")) == job_id

        async def reannounced():
            return [e for e in await job_events(js, job_id) if isinstance(e, JobCompleted) and e.request_seq]

        (answer,) = await wait_for(reannounced, timeout=30)
    events = await job_events(js, job_id)
    done = [e for e in events if isinstance(e, SegmentSynthesized)]
    finished = [e for e in events if isinstance(e, JobCompleted) and not e.request_seq]
    assert len(finished) == 1 and finished[0].chapters == 1
    second = next(e for e in events if isinstance(e, JobAccepted) and e.request_id == "plain-2")
    assert answer.request_seq == second.request_seq and answer.output_object == finished[0].output_object
    assert len({(e.chapter, e.index) for e in done}) == (await job_state(js, job_id)).total_segments
    store = await object_store(js)
    info = await store.get_info(finished[0].output_object)
    assert info.size == finished[0].size > 1000


async def test_bad_requests_are_rejected_and_service_keeps_serving(js, client, settings) -> None:
    shutil.copy(book("edge/not-an-epub.epub"), settings.input_dir / "junk.epub")
    bad = [
        b"{this is not json",
        b'{"voice": "x"}',
        b'{"source": "missing.epub", "engine": "test"}',
        b'{"source": "/etc/passwd", "engine": "test"}',
        b'{"source": "junk.epub", "engine": "test"}',
        b'{"source": "junk.epub", "engine": "test", "voice": "nobody"}',
        b'{"source": {"object": "sources/nothing.epub"}, "engine": "test"}',
        b'{"source": "good.epub", "engine": "test", "lexicon": "ok = fine\\nno equals sign"}',
    ]
    reasons = ["not valid JSON", 'missing "source"', "does not exist", "outside the allowed input directory",
               "not a zip archive", "unknown voice 'nobody'", "is not in the object store",
               "lexicon line 2: expected 'word = spoken form'"]
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "good.epub")
    good = b'{"source": "good.epub", "engine": "test", "voice": "short", "request_id": "good"}'
    async with running(["parse", "tts", "assemble"], settings) as task:
        for raw in bad:
            await client.publish(names.REQUEST_SUBJECT, raw)
        await client.publish(names.REQUEST_SUBJECT, good)
        job_id = await wait_for(lambda: accepted_job(js, "good"))

        async def good_done():
            return (await job_state(js, job_id)).status == COMPLETED

        await wait_for(good_done, timeout=60)
        assert not task.done(), "the service is still running"
    rejections = [e for e in await read_events(js) if isinstance(e, JobRejected)]
    assert len(rejections) == len(bad)
    for reason in reasons:
        assert any(reason in r.reason for r in rejections), (reason, [r.reason for r in rejections])
    # a request that never became a job is reported under an id a client can compute itself
    assert (await job_state(js, request_ref(bad[0]))).status == REJECTED


async def test_size_limits_and_unsafe_archives_are_rejected(js, client, settings, tmp_path) -> None:
    import dataclasses
    import zipfile

    limited = dataclasses.replace(settings, max_book_bytes=100_000)
    shutil.copy(book("epub/se_jane-austen_unknown-novel.epub"), settings.input_dir / "big.epub")  # 480 KB
    with zipfile.ZipFile(settings.input_dir / "evil.epub", "w") as archive:
        archive.writestr("META-INF/container.xml", "<x/>")
        archive.writestr("../../outside.xhtml", "<p>x</p>")
    requests = [
        b'{"source": "big.epub", "engine": "test"}',
        b'{"source": "evil.epub", "engine": "test"}',
        b'{"source": "' + b"x" * 70_000 + b'"}',
    ]
    async with running(["parse"], limited) as task:
        for raw in requests:
            await client.publish(names.REQUEST_SUBJECT, raw)

        async def three():
            return len([e for e in await read_events(js) if isinstance(e, JobRejected)]) == 3

        await wait_for(three, timeout=30)
        assert not task.done()
    reasons = " | ".join(e.reason for e in await read_events(js) if isinstance(e, JobRejected))
    assert "the book is 480 KB; this server accepts up to 100 KB" in reasons
    assert "unsafe path" in reasons
    assert "the limit is 65536" in reasons
