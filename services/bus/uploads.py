"""Clients put files (ebooks, reference recordings) into the ``uploads`` store under their content hash."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events import names
from events.errors import PermanentError
from services.bus.topology import object_store


def sha256_file(path: Path) -> str:
    """The file's sha256, hex: the content address of books and reference recordings."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def object_digest(path: Path) -> str:
    """The digest an object store description gives for the bytes of ``path`` (``SHA-256=<base64url>``)."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").digest()
    return "SHA-256=" + base64.urlsafe_b64encode(digest).decode()


async def upload(js: JetStreamContext, path: Path, name: str, bucket: str = names.UPLOADS_BUCKET) -> str:
    """Put ``path`` in the uploads bucket (or a named user's own, which only the operator makes) as ``name``.

    Skipped only when the object there says it holds these very bytes (its size and SHA-256): a
    file planted under the name with other content is replaced, and the parse service checks the
    content against the name once more (it may have been planted after this look).
    """
    store = await (object_store(js, bucket) if bucket == names.UPLOADS_BUCKET else own_store(js, bucket))
    try:
        info = await store.get_info(name)
        if info.size == path.stat().st_size and info.digest == object_digest(path):
            return name
    except ObjectNotFoundError:
        pass
    with open(path, "rb") as handle:
        await store.put(name, handle)
    return name


async def upload_book(js: JetStreamContext, path: Path, sha256: str | None = None,
                      bucket: str = names.UPLOADS_BUCKET) -> str:
    """Upload an ebook as ``sources/<sha256><suffix>``; its object name."""
    sha = sha256 or sha256_file(path)
    return await upload(js, path, names.source_object(sha, path.suffix.lower() or ".epub"), bucket)


class NoOwnStore(PermanentError):
    """A named user's object store is not on this stack (the operator makes it)."""


async def own_store(js: JetStreamContext, bucket: str) -> ObjectStore:
    """A named user's own object store; ``NoOwnStore`` saying what to ask for when it is missing."""
    try:
        return await js.object_store(bucket)
    except (BucketNotFoundError, NotFoundError):
        user = bucket.removeprefix(names.USER_BUCKET_PREFIX)
        raise NoOwnStore(f"your object store {bucket!r} is not on this stack: ask its operator to run "
                         f"`audiobook user add {user}` with the admin credentials") from None
