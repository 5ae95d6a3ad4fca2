"""A request that picks chapters gets a book of just those; a selection past the end is refused."""

from __future__ import annotations

import shutil

import orjson

from events.projection import COMPLETED, REJECTED
from events.requests import request_ref
from events.types import BookParsed, JobAccepted
from services.testing.waiting import job_events, job_state, read_events, wait_for
from tests.conftest import book
from tests.integration.helpers import running


async def test_picked_chapters_only(js, client, settings) -> None:
    shutil.copy(book("epub/pg22367_die-verwandlung_de.epub"), settings.input_dir / "kafka.epub")
    wanted = orjson.dumps({"source": "kafka.epub", "engine": "test", "voice": "short", "chapters": "3,1"})
    too_far = orjson.dumps({"source": "kafka.epub", "engine": "test", "voice": "short", "chapters": "2-4"})
    async with running(["parse", "tts", "assemble"], settings):
        await client.publish("convert.request", wanted)
        await client.publish("convert.request", too_far)

        async def accepted() -> str | None:
            found = [e.job_id for e in await read_events(js) if isinstance(e, JobAccepted) and e.chapters == "1,3"]
            return found[0] if found else None

        job = await wait_for(accepted)

        async def done() -> bool:
            return (await job_state(js, job)).status == COMPLETED

        await wait_for(done, timeout=60)

        async def refused() -> bool:
            return any(isinstance(e, JobAccepted) and e.chapters == "2-4" for e in await read_events(js))

        await wait_for(refused)
    (parsed,) = [e for e in await job_events(js, job) if isinstance(e, BookParsed)]
    assert [c.title for c in parsed.chapters] == ["I", "III"]
    refusal = next(e for e in await read_events(js) if isinstance(e, JobAccepted) and e.chapters == "2-4")
    state = await job_state(js, refusal.job_id)
    assert state.status == REJECTED and "the book has 3 chapters; chapter 4 does not exist" in state.reason
    assert (await job_state(js, request_ref(too_far))).status == ""  # answered under its job id, not its bytes


def test_audiobook_chapters_lists_what_will_be_read() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    kafka = book("epub/pg22367_die-verwandlung_de.epub")
    listed = subprocess.run([sys.executable, "-m", "services", "chapters", str(kafka)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("Die Verwandlung by Franz Kafka: 3 chapters, read in de by ")
    assert [line.split()[0] for line in lines[1:4]] == ["1", "2", "3"] and lines[2].endswith("II")
    assert "6,691 words" in lines[2] and "--chapters 1-5,8" in lines[4]
