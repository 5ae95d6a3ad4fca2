"""Every service answers nats micro with replies in the io.nats.micro.v1 shapes the NATS CLI validates."""

from __future__ import annotations

import re

import orjson

from services.testing.waiting import wait_for
from tests.integration.helpers import running

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
NAME = re.compile(r"^[A-Za-z0-9_-]+$")


async def _all(client, subject: str, wait: float = 0.5) -> list[dict]:  # type: ignore[no-untyped-def]

    inbox = client.new_inbox()
    sub = await client.subscribe(inbox)
    await client.publish(subject, b"", reply=inbox)
    replies = []
    try:
        while True:
            data = (await sub.next_msg(timeout=wait)).data
            if data:  # an empty message is the server saying "no responders" (yet)
                replies.append(orjson.loads(data))
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return replies


def _identity(reply: dict, kind: str) -> None:  # type: ignore[type-arg]
    assert reply["type"] == f"io.nats.micro.v1.{kind}_response"
    assert NAME.match(reply["name"]) and reply["name"].startswith("audiobook-")
    assert SEMVER.match(reply["version"]) and isinstance(reply["id"], str) and reply["id"]
    assert isinstance(reply["metadata"], dict) and all(isinstance(v, str) for v in reply["metadata"].values())


async def test_discovery_replies_have_the_micro_v1_shapes(js, client, settings) -> None:
    async with running(["parse", "tts", "assemble"], settings):
        async def three():
            found = await _all(client, "$SRV.PING", wait=0.3)
            return found if len(found) == 3 else None

        pings = await wait_for(three, timeout=30)
        assert {p["name"] for p in pings} == {"audiobook-parse", "audiobook-tts", "audiobook-assemble"}
        for ping in pings:
            _identity(ping, "ping")
        for info in await _all(client, "$SRV.INFO"):
            _identity(info, "info")
            assert isinstance(info["description"], str)
            for endpoint in info["endpoints"]:
                assert NAME.match(endpoint["name"]) and isinstance(endpoint["subject"], str)
                assert isinstance(endpoint["queue_group"], str)
                assert endpoint["subject"].startswith(f"audiobook.{info['metadata']['role']}.{info['id']}.")
            verbs = {e["name"] for e in info["endpoints"]}
            assert verbs == ({"status", "drain"} if info["name"] == "audiobook-tts" else {"status"})
        for stats in await _all(client, "$SRV.STATS.audiobook-tts"):
            _identity(stats, "stats")
            assert isinstance(stats["started"], str)
            for endpoint in stats["endpoints"]:
                for counter in ("num_requests", "num_errors", "processing_time", "average_processing_time"):
                    assert isinstance(endpoint[counter], int)
                assert endpoint["data"]["role"] == "tts" and endpoint["data"]["state"] in ("idle", "busy")


async def test_health_check_answers_for_the_roles_running_here(js, client, settings) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    async with running(["parse", "tts"], settings):
        async def answers(role: str) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "services", "health", "--role", role, "--nats-url", settings.nats_url],
                capture_output=True, text=True, timeout=60, env=dict(os.environ))

        await wait_for(lambda: _ok(answers("tts")), timeout=30)
        assert (await answers("parse")).returncode == 0
        missing = await answers("assemble")
        assert missing.returncode == 1 and "no assemble service" in missing.stderr


async def _ok(result) -> bool:  # type: ignore[no-untyped-def]
    return (await result).returncode == 0
