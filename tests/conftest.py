"""Shared fixtures: real test books, a real nats-server with JetStream per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.app.stack import start_nats_server
from services.app.supervise import stop_process
from services.bus.topology import ensure_topology
from services.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TESTBOOKS = ROOT.parent / "shared" / "testbooks"


def book(relative: str) -> Path:
    path = TESTBOOKS / relative
    if not path.exists():
        pytest.fail(f"test book missing: {path} (tests read ../shared/testbooks)")
    return path


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "jetstream"
    path.mkdir()
    return path


@pytest.fixture
def nats_url(store_dir: Path) -> Iterator[str]:
    """A real nats-server 2.14 with JetStream on a free loopback port."""
    proc, url = start_nats_server(store_dir)
    yield url
    stop_process(proc)


@pytest.fixture
def settings(nats_url: str, tmp_path: Path) -> Settings:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return Settings(nats_url=nats_url, data_dir=tmp_path / "data", input_dir=inbox.resolve(),
                    worker_name="test-worker", ack_wait_s=10.0, check="off")  # a test asks for its checks


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def js(client: Client, settings: Settings) -> JetStreamContext:
    context = client.jetstream()
    await ensure_topology(context, settings)
    return context



# Longest first: run in parallel (scripts/test: pytest-xdist), the suite ends when its last test
# does, so the tests that take minutes start first and the quick ones fill in around them.
FIRST = ("tests/e2e/", "tests/faults/", "slow", "tests/integration/", "tests/engines/", "tests/snapshots/",
         "tests/corpus/", "tests/unit/")


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.replace("\\", "/")
    for rank, place in enumerate(FIRST):
        if path.startswith(place) or (place == "slow" and item.get_closest_marker("slow")):
            return rank
    return len(FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the order within each group stays as written
