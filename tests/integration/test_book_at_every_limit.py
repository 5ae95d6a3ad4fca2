"""A book at every documented limit at once is converted to the end, and no message outgrows the server.

2,000 chapters (the chapter limit) with 200-character titles (the title limit) and a 32 KiB
lexicon (the request's limit), on the instant engine (86 s here). The most warnings a
``book.warning`` lists (50) and The segment limit (100,000) and its checkpoint are measured without NATS in
``tests/unit/test_projection.py``: synthesizing 100,000 segments takes CI too long.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
from ebooklib import epub

from events import names
from events.projection import COMPLETED
from events.requests import MAX_LEXICON_CHARS
from events.types import BookParsed, JobAccepted
from services.settings import Settings
from services.testing.waiting import UNREACHABLE, job_events, job_state, read_events, wait_for
from tests.integration.helpers import running

CHAPTERS = 2_000


def _title(number: int) -> str:
    return f"Chapter {number}: " + " ".join(["the long and winding title"] * 10)[:185]


def limit_book(folder: Path) -> Path:
    """An EPUB of ``CHAPTERS`` chapters with 200-character titles."""
    book = epub.EpubBook()
    book.set_identifier("every-limit")
    book.set_title("Every Limit")
    book.set_language("en")
    book.add_author("A. Tester")
    items = []
    for number in range(1, CHAPTERS + 1):
        item = epub.EpubHtml(title=_title(number), file_name=f"c{number:04}.xhtml", lang="en")
        item.content = (f"<h1>{_title(number)}</h1><p>Paragraph one of chapter {number}, where the colour "
                        f"of the sky is grey and the organisation meets at noon.</p>").encode()
        items.append(item)
        book.add_item(item)
    book.toc = items
    book.spine = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    path = folder / "limits.epub"
    epub.write_epub(str(path), book)
    return path


def lexicon() -> str:
    lines, size, n = [], 0, 0
    while True:
        line = f"colour{n} = colour number {n}\n"
        if size + len(line) > MAX_LEXICON_CHARS - 64:
            break
        lines.append(line)
        size, n = size + len(line), n + 1
    return "colour = color\norganisation = organization\n" + "".join(lines)


async def test_a_book_at_every_limit_is_converted(js, client, settings: Settings, tmp_path: Path) -> None:
    shutil.copy(limit_book(tmp_path), settings.input_dir / "limits.epub")
    request = {"source": {"path": "limits.epub"}, "engine": "test", "voice": "short", "request_id": "limits",
               "lexicon": lexicon()}
    assert len(request["lexicon"]) <= MAX_LEXICON_CHARS
    async with running(["parse", "tts", "assemble"], settings) as task:
        await client.publish(names.REQUEST_SUBJECT, orjson.dumps(request))

        async def accepted() -> str | None:
            return next((e.job_id for e in await read_events(js) if isinstance(e, JobAccepted)
                         and e.request_id == "limits"), None)

        job_id = await wait_for(accepted, timeout=120, retry=UNREACHABLE)

        async def completed() -> bool:
            return (await job_state(js, job_id)).status in (COMPLETED, "failed", "rejected")

        # a book this size keeps the server busy: a poll that times out is "not yet", not a failure
        await wait_for(completed, timeout=900, every=2.0, retry=UNREACHABLE)
        assert not task.done(), "every service is still running"
    state = await job_state(js, job_id)
    assert state.status == COMPLETED, state.reason
    events = await job_events(js, job_id)
    parsed = next(e for e in events if isinstance(e, BookParsed))
    # the reader joins the first few one-paragraph chapters as front matter
    assert len(parsed.chapters) >= CHAPTERS - 10 and max(len(c.title) for c in parsed.chapters) >= 195
    checkpoint = await (await js.key_value(names.CHECKPOINT_BUCKET)).get(job_id)
    assert checkpoint.value is not None and len(checkpoint.value) < 64 * 1024, len(checkpoint.value or b"")
