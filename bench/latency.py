"""Benchmark: a fleet of simulated workers behind a slow network link.

    .venv/bin/python -m bench.latency [RTTS_MS] [SIZES] [RTF]     # default 0,50,150  8,32  0.3

Workers on other hosts reach the stack over links with tens of milliseconds of latency. There is
no network emulator in this kernel, so each worker connects through a TCP proxy on localhost
that holds every chunk of bytes for half the round trip, in each direction (:class:`DelayProxy`);
parse, assemble and the server talk directly, as they would on one host. The book is Die
Verwandlung in segments of at most 200 characters, read by the instant `short` voice, each worker
sleeping the audio's length times RTF (model time that takes no CPU, as on a GPU), as in
``bench.fleet``. Speed-up = the book's model time over the wall (request to last segment): the
number of workers the fleet was worth. Numbers are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import deque

from bench.common import BOOKS, Stack, banner, temp_folder

BOOK = BOOKS / "epub" / "pg22367_die-verwandlung_de.epub"
ENV = {"AUDIOBOOK_MAX_SEGMENT_CHARS": "200", "AUDIOBOOK_ACK_WAIT": "30"}
CHUNK = 64 * 1024


class DelayProxy:
    """A TCP proxy on localhost that delays each direction by ``one_way_s`` (order kept, no bandwidth limit)."""

    def __init__(self, target_port: int, one_way_s: float) -> None:
        self.target_port, self.one_way_s = target_port, one_way_s
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DelayProxy:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _shutdown(self) -> None:
        """Every connection's tasks cancelled and finished, before the loop stops."""
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Bytes from ``reader`` written to ``writer`` ``one_way_s`` after they arrived."""
        held: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        closed = False

        async def deliver() -> None:
            while not (closed and not held):
                if not held:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, data = held[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                held.popleft()
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(CHUNK):
                held.append((time.monotonic() + self.one_way_s, data))
                arrived.set()
        finally:
            closed = True
            arrived.set()
            await sender


def fleet_behind(rtt_ms: float, workers: int, rtf: float) -> tuple[float, float, int]:
    """(wall s, model s, segments) of the book on ``workers`` workers each ``rtt_ms`` away."""
    folder = temp_folder(f"latency-{rtt_ms:g}-{workers}")
    with Stack(folder, workers=0, threads=1, env=ENV) as stack:
        port = int(stack.url.split(",")[0].rsplit(":", 1)[1])
        with DelayProxy(port, rtt_ms / 2000) as proxy:
            for number in range(workers):
                stack.start(f"w{number}", "tts", "--threads", "1", env={
                    "AUDIOBOOK_SIMULATED_RTF": repr(rtf), "AUDIOBOOK_NATS_URL": f"nats://127.0.0.1:{proxy.port}"})
            stack.workers = workers
            asyncio.run(stack._ready())  # every worker answers (through the proxy) before the clock starts
            run = stack.convert(BOOK, engine="test", voice="short")
    model = sum(model for _, _, model in run.per_worker.values())
    return run.last_segment_s, model, run.segments


def main(rtts: list[float], sizes: list[int], rtf: float) -> None:
    banner(f"latency: workers behind a delaying proxy; round trips {rtts} ms, {sizes} workers, RTF {rtf}")
    print("rtt ms  workers  wall s  model s  speed-up (model / wall)  per worker", flush=True)
    for rtt in rtts:
        for size in sizes:
            wall, model, segments = fleet_behind(rtt, size, rtf)
            print(f"{rtt:6g}  {size:7d}  {wall:6.1f}  {model:7.1f}  {model / wall:21.2f}x  {model / wall / size:9.0%}"
                  f"  ({segments} segments)", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main([float(x) for x in (args[0] if args else "0,50,150").split(",")],
         [int(x) for x in (args[1] if len(args) > 1 else "8,32").split(",")],
         float(args[2]) if len(args) > 2 else 0.3)
