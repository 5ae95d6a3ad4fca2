"""A stack for tests and benchmarks: one nats-server or a loopback cluster of them, plus service
processes that can be killed with SIGKILL and started again, and their CPU seconds.

It is the product's :class:`services.app.stack.Stack` (the same server command, the same
service processes, the same shutdown) with the powers only tests and benchmarks use.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import nats

from services.app.stack import Stack, StackError, free_port, start_nats_server
from services.bus.connect import server_urls
from services.bus.control import fleet_status
from services.settings import Settings
from services.testing.processes import cpu_seconds

CLUSTER_NAME = "audiobook"


def cluster_options(name: str, node: int, route_ports: Sequence[int]) -> list[str]:
    """nats-server options for node ``node`` of a loopback cluster whose nodes listen for routes on
    ``route_ports``: a server name of its own, the cluster's name, and a route to every node."""
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in route_ports)
    return ["--server_name", f"{name}-n{node}", "--cluster_name", name,
            "--cluster", f"nats://127.0.0.1:{route_ports[node]}", "--routes", routes]


def server_info(port: int, timeout: float = 2.0) -> dict[str, object]:
    """The INFO a NATS server on loopback ``port`` greets a new client with."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        line = sock.makefile("rb").readline()
    if not line.startswith(b"INFO "):
        raise StackError(f"the server on port {port} does not speak NATS")
    found = json.loads(line[5:])
    return found if isinstance(found, dict) else {}


def wait_for_routes(ports: Sequence[int], timeout: float = 30.0) -> None:
    """Wait until every node on ``ports`` knows all the others (the cluster is whole)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError, StackError):
            if all(len(server_info(port).get("connect_urls") or ()) >= len(ports) for port in ports):  # type: ignore[arg-type]
                return
        if time.monotonic() > deadline:
            raise StackError(f"the {len(ports)} nats-server nodes did not connect to each other within {timeout:.0f}s")
        time.sleep(0.1)


async def worker_model_runs(url: str) -> int:
    """Model runs as the tts workers count them (the log misses a run whose event was lost with a
    node: its redelivery then finds the audio in the cache and reports a cache hit)."""
    nc = await nats.connect(server_urls(url))
    try:
        return sum(int(s.get("model_runs") or 0) for s in await fleet_status(nc, 1.0) if s.get("role") == "tts")
    finally:
        await nc.close()


class Cluster(Stack):
    """nats-server (or a cluster of ``nodes`` of them) and named service processes, each of which
    can be killed and started again.

    Arguments as :class:`Stack`'s; node N of a cluster keeps its store under ``store/nN``.
    """

    def __init__(self, root: Path, settings: Settings | None = None, env: Mapping[str, str] | None = None, *,
                 store: Path | None = None, logs: Path | None = None, hold: int | None = None,
                 credentials: Mapping[str, str] | None = None, nodes: int = 1) -> None:
        super().__init__(root, settings, env, store=store, logs=logs, hold=hold, credentials=credentials)
        self.ports = [self.port, *(free_port() for _ in range(nodes - 1))]
        self.route_ports = [free_port() for _ in range(nodes)] if nodes > 1 else []
        self.node_procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> int:
        return len(self.ports)

    def node_url(self, node: int) -> str:
        return f"nats://127.0.0.1:{self.ports[node]}"

    def urls(self, first: int = 0) -> str:
        """Every node's URL, comma-separated, starting with node ``first`` (where a process
        connects first; it fails over to the others)."""
        order = [*range(first, self.nodes), *range(first)]
        return ",".join(self.node_url(node) for node in order)

    @property
    def url(self) -> str:
        return self.urls()

    def node_store(self, node: int) -> Path:
        return self.store if self.nodes == 1 else self.store / f"n{node}"

    def env(self, worker_name: str, role: str | None = None, node: int = 0) -> dict[str, str]:
        """The environment of a service process of this stack (with its role's credentials),
        connecting first to node ``node``."""
        return self.process_env(self.urls(node), worker_name, role)

    def start_server(self, node: int | None = None) -> None:
        """Start (or start again, on the same port and store) the nats-server, or one node of the
        cluster; with every node started, wait until they have routes to each other."""
        for number in range(self.nodes) if node is None else (node,):
            store = self.node_store(number)
            cluster = cluster_options(CLUSTER_NAME, number, self.route_ports) if self.route_ports else ()
            self.node_procs[number], _ = start_nats_server(store, self.ports[number], self.hold,
                                                           self.users_config(store), cluster)
        self.server = self.node_procs.get(0)
        if self.nodes > 1 and node is None:
            wait_for_routes(self.ports)

    def start(self, name: str, *args: str, worker_name: str | None = None, node: int = 0,
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``audiobook serve ARGS`` as the process called ``name`` (its worker name too, by
        default), connected first to node ``node``, with ``env`` on top of the stack's variables.

        On a server with users, the process connects as the role it serves (``args[0]``).
        """
        return self.spawn(name, list(args), {**self.env(worker_name or name, args[0], node), **(env or {})})

    def start_services(self, workers: int = 2, threads: int = 1) -> None:
        """parse and assemble, and ``workers`` tts processes, each a process of its own (on a
        cluster, spread over the nodes)."""
        self.start("parse", "parse")
        self.start("assemble", "assemble", node=1 % self.nodes)
        for number in range(workers):
            self.start(f"tts{number}", "tts", "--threads", str(threads), node=number % self.nodes)

    def servers(self) -> list[subprocess.Popen[bytes]]:
        return list(self.node_procs.values())

    def kill(self, name: str) -> None:
        """SIGKILL one process (``nats`` is the server, ``nats1`` node 1 of a cluster)."""
        proc = self.node_procs.get(int(name.removeprefix("nats") or 0)) if name.startswith("nats") else self.procs[name]
        assert proc is not None and proc.poll() is None, f"{name} is not running"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each nats-server node and each service process (with its children)."""
        servers = {("nats-server" if self.nodes == 1 else f"nats{node}"): proc
                   for node, proc in sorted(self.node_procs.items())}
        return cpu_seconds({**servers, **self.procs})
