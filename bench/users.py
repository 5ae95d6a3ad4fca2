"""Benchmark: named users sharing one stack, on a fleet of simulated workers.

    .venv/bin/python -m bench.users [WORKERS] [RTF]       # default 8, 0.1

Two measurements, each on fresh stacks with users alice, bob and mallory (``audiobook user
add``), every client connected as its user through ``services.client`` (upload to their own
store, request on their own subject, follow their own events, download from their own store):

1. **Two users, five books each.** alice asks for chapters 1-5 of Madame Bovary as five books
   and bob for chapters 6-10, at the same moment. Printed: each user's throughput (seconds of
   audio made per second) while both had books running, and their ratio.
2. **A burst.** alice's one-chapter book (the first chapter of Die Verwandlung) alone, then the
   same right after mallory published 300 requests in a burst (250 invalid, 50 for chapters of
   Madame Bovary): alice's time from request to M4B in each, and the ratio; with the stack's
   per-user limits (the defaults), and again with them off (``AUDIOBOOK_USER_REQUESTS_PER_MINUTE=0``,
   ``AUDIOBOOK_USER_MAX_JOBS=0``: only the per-user window), and how mallory's requests were answered.

Each worker sleeps for the audio's length times RTF (model time that takes no CPU, as on a GPU).
Numbers are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import orjson

from bench.common import BOOKS, banner, temp_folder
from events import names
from events.codec import decode_event
from events.requests import ConvertRequest
from events.types import JobRejected, SegmentSynthesized
from services.app.stack import Stack, stack_credentials
from services.app.users import add_user, load_users
from services.bus.publish import replay
from services.bus.topology import ensure_topology, user_store
from services.bus.uploads import sha256_file, upload_book
from services.client.api import PipelineClient, connect
from services.settings import Settings

LONG = BOOKS / "epub" / "pg14155_madame-bovary_fr.epub"
SHORT = BOOKS / "epub" / "pg22367_die-verwandlung_de.epub"
USERS = ("alice", "bob", "mallory")


@dataclass
class Users:
    stack: Stack
    passwords: dict[str, str]

    def settings(self, user: str) -> Settings:
        return Settings(nats_user=user, nats_password=self.passwords[user])

    @contextlib.asynccontextmanager
    async def client(self, user: str) -> AsyncIterator[PipelineClient]:
        async with connect(self.stack.url, self.settings(user), "bench") as client:
            yield client

    async def admin(self) -> nats.NATS:
        return await nats.connect(self.stack.url, user="admin", password=self.stack.credentials["admin"])


@contextlib.contextmanager
def users_stack(name: str, workers: int, rtf: float, env: dict[str, str] | None = None) -> Iterator[Users]:
    """A fresh stack with users alice, bob and mallory, parse, assemble and ``workers`` simulated workers."""
    folder = temp_folder(f"users-{name}")
    passwords = {user: str(add_user(folder / "registry", user)) for user in USERS}
    stack = Stack(folder, credentials=stack_credentials(folder / "data"), users=load_users(folder / "registry"),
                  env=env or {})
    with stack:
        async def topology() -> None:
            nc = await nats.connect(stack.url, user="admin", password=stack.credentials["admin"])
            await ensure_topology(nc.jetstream(), Settings())
            for user in USERS:
                await user_store(nc.jetstream(), user, Settings())
            await nc.close()

        asyncio.run(topology())
        stack.start("parse", "parse")
        stack.start("assemble", "assemble")
        for number in range(workers):
            stack.start(f"w{number}", "tts", "--threads", "1", env={"AUDIOBOOK_SIMULATED_RTF": repr(rtf)})
        time.sleep(4.0)  # the services start before the clock does
        yield Users(stack, passwords)


async def convert(users: Users, user: str, book: Path, chapters: str) -> float:
    """One book as ``user``, through the client: seconds from the request to the M4B on disk."""
    async with users.client(user) as client:
        started = time.perf_counter()
        submission = await client.submit(book, ConvertRequest(engine="test", voice="short", chapters=chapters))
        outcome = await client.follow(submission, users.stack.root / f"{user}-{chapters}.m4b")
        assert outcome.ok, outcome.state.reason
        return time.perf_counter() - started


def two_users(workers: int, rtf: float) -> None:
    banner(f"two users, five books each: {workers} workers at RTF {rtf}")
    with users_stack("two", workers, rtf) as users:
        async def both() -> None:
            mine = {"alice": [str(c) for c in range(1, 6)], "bob": [str(c) for c in range(6, 11)]}
            started = time.time()
            times = await asyncio.gather(*(convert(users, user, LONG, chapter)
                                           for user, chapters in mine.items() for chapter in chapters))
            ends = {user: started + max(times[i * 5:(i + 1) * 5]) for i, user in enumerate(mine)}
            common = min(ends.values())
            admin = await users.admin()
            made: dict[str, float] = dict.fromkeys(mine, 0.0)
            for msg in await replay(admin.jetstream(), names.EVENTS_STREAM, names.synthesized_filter()):
                event = decode_event(msg.data)
                owner = names.owner_of(event.job_id)
                if isinstance(event, SegmentSynthesized) and owner in made and \
                        msg.metadata.timestamp.timestamp() <= common:
                    made[owner] += event.seconds
            await admin.close()
            span = common - started
            rates = {user: seconds / span for user, seconds in made.items()}
            for user in mine:
                print(f"{user}: five books in {ends[user] - started:.1f} s; while both ran ({span:.1f} s) "
                      f"{made[user] / 60:.1f} min of audio, {rates[user]:.2f} s of audio per second", flush=True)
            print(f"ratio: {min(rates.values()) / max(rates.values()):.3f} (1.0: the same throughput)", flush=True)

        asyncio.run(both())


async def burst(users: Users) -> None:
    """mallory's 300 requests in one burst: 250 invalid, 50 valid (chapters of the long book)."""
    async with users.client("mallory") as client:
        source = await upload_book(client.js, LONG, sha256_file(LONG), names.user_bucket("mallory"))
    nc = await nats.connect(users.stack.url, user="mallory", password=users.passwords["mallory"],
                            inbox_prefix=names.user_inbox("mallory"))
    subject = names.request_subject("mallory")
    started = time.perf_counter()
    for number in range(300):
        if number % 6 == 0:
            body = orjson.dumps({"source": {"object": source}, "engine": "test", "voice": "short",
                                 "chapters": str(number // 6 % 35 + 1), "speed": 1.0 + number / 6000})
        else:
            body = b'{"source": 7, "n": %d}' % number if number % 2 else b"not json %d" % number
        await nc.publish(subject, body)
    await nc.flush()
    print(f"mallory: 300 requests published in {1000 * (time.perf_counter() - started):.0f} ms", flush=True)
    await nc.close()


async def mallory_answers(users: Users) -> str:
    admin = await users.admin()
    reasons: dict[str, int] = {}
    for msg in await replay(admin.jetstream(), names.EVENTS_STREAM, "events.*.job.rejected"):
        event = decode_event(msg.data)
        if isinstance(event, JobRejected) and names.owner_of(event.job_id) == "mallory":
            key = ("rate limit" if "requests in a minute" in event.reason else
                   "jobs at once" if "jobs running" in event.reason else "invalid")
            reasons[key] = reasons.get(key, 0) + 1
    await admin.close()
    return ", ".join(f"{count} rejected ({why})" for why, count in sorted(reasons.items()))


def bursts(workers: int, rtf: float) -> None:
    banner(f"a burst of 300 requests from one user, then another user's one-chapter book: {workers} workers "
           f"at RTF {rtf}")
    with users_stack("idle", workers, rtf) as users:
        idle = asyncio.run(convert(users, "alice", SHORT, "1"))
    print(f"idle: alice's one-chapter book in {idle:.1f} s", flush=True)
    for name, env in (("limits", {}), ("no-limits", {"AUDIOBOOK_USER_REQUESTS_PER_MINUTE": "0",
                                                     "AUDIOBOOK_USER_MAX_JOBS": "0"})):
        with users_stack(name, workers, rtf, env) as users:
            async def after_burst() -> tuple[float, str]:
                await burst(users)
                took = await convert(users, "alice", SHORT, "1")
                return took, await mallory_answers(users)

            took, answers = asyncio.run(after_burst())
        print(f"{name}: after the burst, alice's book in {took:.1f} s ({took / idle:.2f}x its idle time); "
              f"mallory's requests: {answers or 'none rejected'}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    count, speed = (int(args[0]) if args else 8), (float(args[1]) if len(args) > 1 else 0.1)
    two_users(count, speed)
    bursts(count, speed)
