"""A named user's finished book goes to their own object store too, before its completion is told.

Books are built in the services' store (``audiobook``); a named user (``audiobook user add``)
may read only their own store, ``user-<name>``, so the book, its cues and its read-along EPUB
are copied there. The copy is made before ``job.completed`` is published: a client that sees
the completion finds the book.
"""

from __future__ import annotations

import logging
import tempfile

from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.types import JobCompleted
from services.assemble.stream import BIG_CHUNKS
from services.bus.ephemeral import download_object

log = logging.getLogger(__name__)


def outputs(done: JobCompleted) -> list[str]:
    """The objects a completion names: the book, its cues, its read-along EPUB (pure)."""
    return [name for name in (done.output_object, done.read_along_object, done.read_along_book) if name]


async def shelve(js: JetStreamContext, store: ObjectStore, done: JobCompleted) -> None:
    """Copy a named user's finished book (every output) from ``store`` to their own store; nothing
    for a job of the shared client. A user whose store is gone (removed) gets no copy, and the book
    stays in the services' store."""
    owner = names.owner_of(done.job_id)
    if owner is None or names.user_name_refusal(owner):
        return
    try:
        shelf = await js.object_store(names.user_bucket(owner))
    except (BucketNotFoundError, NotFoundError):
        log.warning("job %s: user %r has no object store; the book stays in %r only", done.job_id, owner,
                    names.OBJECT_BUCKET)
        return
    for name in outputs(done):
        with tempfile.TemporaryFile() as handle:
            await download_object(store, name, handle)
            handle.seek(0)
            await shelf.put(name, handle, meta=ObjectMeta(name=name, options=BIG_CHUNKS))
    log.info("job %s: copied %s to %r", done.job_id, ", ".join(outputs(done)), names.user_bucket(owner))
