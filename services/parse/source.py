"""Fetch a request's source ebook into a local file: from the object store or an allowed path.

The size limit is checked on the bytes copied: an object's description (its ``size``) is
written by the client and only serves to refuse a book early, and a file may grow after it
is looked at.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events.errors import PermanentError
from events.names import UPLOADS_BUCKET
from events.requests import ConvertRequest
from services.bus.ephemeral import ObjectTooBig, download_object
from services.bus.uploads import sha256_file
from services.parse.limits import BookTooBig

SOURCES_PREFIX = "sources/"
COPY_CHUNK = 1 << 20


class SourceError(PermanentError):
    """The source cannot be read; the message says why, for a person."""


@dataclass(frozen=True)
class LocalSource:
    path: Path
    sha256: str
    name: str


def human_size(size: int) -> str:
    """``480 KB``, ``1.2 MB``: sizes as a person reads them (decimal units)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} bytes"


def too_big(size: int | None, limit: int) -> BookTooBig:
    """The refusal of a book of ``size`` bytes (None: more than ``limit``, counted while copying)."""
    shown = f"more than {human_size(limit)}" if size is None else human_size(size)
    return BookTooBig(f"the book is {shown}; this server accepts up to {human_size(limit)} "
                      "(AUDIOBOOK_MAX_BOOK_MB)")


def copy_bounded(path: Path, dest: Path, max_bytes: int) -> None:
    """Copy ``path`` to ``dest``, refusing it (BookTooBig) as soon as more than ``max_bytes`` are read."""
    copied = 0
    with open(path, "rb") as source, open(dest, "wb") as out:
        while chunk := source.read(COPY_CHUNK):
            copied += len(chunk)
            if copied > max_bytes:
                raise too_big(None, max_bytes)
            out.write(chunk)


def _allowed_path(raw: str, input_dir: Path | None, max_bytes: int) -> Path:
    """The file a ``{"path": ...}`` source names, if it is a readable file inside ``input_dir``.

    Reasons name the path as the request gave it, never the server's own directories.
    """
    if input_dir is None:
        raise SourceError(
            "this server does not read local paths (AUDIOBOOK_INPUT_DIR is not set); "
            f"upload the book to the object store {UPLOADS_BUCKET!r} and give {{\"object\": NAME}}"
        )
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if "\x00" in raw:
        raise SourceError(f"source path {shown!r} contains a NUL character")
    try:
        path = Path(raw)
        path = (path if path.is_absolute() else input_dir / path).resolve()
        if not path.is_relative_to(input_dir):
            raise SourceError(f"path {shown!r} is outside the allowed input directory")
        if not path.is_file():
            raise SourceError(f"source file {shown!r} does not exist")
        size = path.stat().st_size
    except RuntimeError:  # Path.resolve on a loop of symbolic links
        raise SourceError(f"cannot read source path {shown!r} (a loop of symbolic links)") from None
    except (OSError, ValueError) as exc:  # a name too long, permissions; never the server's paths
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise SourceError(f"cannot read source path {shown!r} ({reason})") from None
    if size > max_bytes:
        raise too_big(size, max_bytes)
    return path


CONTENT_NAME = re.compile(r"(?:sources|speakers)/([0-9a-f]{64})\.[a-z0-9]{1,8}")


async def locate_object(name: str, stores: list[ObjectStore]) -> tuple[ObjectStore, int] | None:
    """The first of ``stores`` that holds ``name``, and the size its description claims (for an early
    refusal only: the client wrote it); None if none does."""
    for store in stores:
        try:
            info = await store.get_info(name)
        except ObjectNotFoundError:
            continue
        return store, info.size or 0
    return None


async def _locate(name: str, uploads: ObjectStore, kept: ObjectStore) -> tuple[ObjectStore, int]:
    """Where a source object is: clients' uploads, or a source kept for an earlier job (resume)."""
    found = await locate_object(name, [uploads, kept] if name.startswith(SOURCES_PREFIX) else [uploads])
    if found is None:
        raise SourceError(f"source object {name!r} is not in the object store {UPLOADS_BUCKET!r}")
    return found


async def fetch_source(
    request: ConvertRequest, uploads: ObjectStore, kept: ObjectStore, dest: Path, input_dir: Path | None,
    max_bytes: int,
) -> LocalSource:
    """Copy the source to ``dest`` (a file path) and hash it."""
    if request.source_object:
        name = request.source_object
        store, size = await _locate(name, uploads, kept)
        if size > max_bytes:
            raise too_big(size, max_bytes)
        try:
            with open(dest, "wb") as handle:
                await download_object(store, name, handle, max_bytes)
        except ObjectTooBig:
            raise too_big(None, max_bytes) from None
        label = Path(name).name
        sha = await asyncio.to_thread(sha256_file, dest)
        named = CONTENT_NAME.fullmatch(name)
        if named and named.group(1) != sha:  # an upload is named by its content: this is not that content
            raise SourceError(f"the uploaded book {name!r} does not hold what its name says (its sha256 is "
                              f"{sha[:12]}…); upload it again")
        return LocalSource(path=dest, sha256=sha, name=label)
    else:
        path = await asyncio.to_thread(_allowed_path, str(request.source_path), input_dir, max_bytes)
        await asyncio.to_thread(copy_bounded, path, dest, max_bytes)
        label = path.name
    return LocalSource(path=dest, sha256=await asyncio.to_thread(sha256_file, dest), name=label)
