"""Benchmark 6: a fleet of simulated GPU workers on a 3-node JetStream cluster.

    .venv/bin/python -m bench.fleet scaling [SIZES] [RTF]   # default 1,2,4,8,16,32 and 0.3
    .venv/bin/python -m bench.fleet uneven [WORKERS]        # half the workers twice as fast
    .venv/bin/python -m bench.fleet node-loss [WORKERS]     # kill -9 the events leader mid-book

Each worker is its own process with its own name, connected first to node (number mod 3).
The instant engine sleeps for the audio's length times the worker's real-time factor
(``AUDIOBOOK_SIMULATED_RTF``): model time that takes no CPU, as on a GPU, so 32 workers on
this 2-core machine wait on "inference" instead of fighting for cores. The book is Die
Verwandlung in segments of at most 200 characters, spoken by the `short` instant voice;
every size starts a fresh cluster, so nothing is a cache hit.

Ideal wall for N workers = the book's model time (its audio x RTF) / N. Coordination
overhead = measured wall / ideal wall - 1, the wall running from the request to the last
segment stored (parsing and queueing included). "Workers finish within": from the first
worker's last segment to the last worker's, how unevenly the fleet runs out of work.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import nats

from bench.common import BOOKS, PipelineRun, Stack, banner, temp_folder
from events import names
from services.bus.connect import server_urls

NODES = 3
BOOK = BOOKS / "epub" / "pg22367_die-verwandlung_de.epub"
ENV = {"AUDIOBOOK_MAX_SEGMENT_CHARS": "200", "AUDIOBOOK_ACK_WAIT": "30"}
SEEDS_TABLE = {2: 1.96, 4: 3.78, 8: 7.29}  # the background documents' speed-ups
TARGETS = {8: 7.6, 32: 28.0}


def run_fleet(name: str, rtfs: list[float], kill_after: int | None = None,
              leader: bool = True) -> tuple[PipelineRun, dict]:
    """Convert the book with one worker per entry of ``rtfs``; optionally kill -9 a node once
    the events stream holds ``kill_after`` events: the one leading the events stream
    (``leader``), else another (its workers lose their connection; no stream leader there
    to lose unless it leads others). Returns the run and the CPU seconds of each process."""
    folder = temp_folder(f"fleet-{name}")
    workers = [{"AUDIOBOOK_SIMULATED_RTF": repr(rtf)} for rtf in rtfs]
    with Stack(folder, workers=len(rtfs), threads=1, env=ENV, nodes=NODES, worker_env=workers) as stack:
        killer = None
        if kill_after is not None:
            killer = threading.Thread(target=_kill_when, args=(stack, kill_after, leader), daemon=True)
            killer.start()
        run = stack.convert(BOOK, engine="test", voice="short")
        cpu = stack.cpu_seconds()
        STATE["model_runs"] = (stack.worker_model_runs(), 0.0)
        if killer is not None:
            killer.join(timeout=5)
    return run, cpu


def _kill_when(stack: Stack, done: int, leader: bool) -> None:
    asyncio.run(_kill(stack, done, leader))


async def _kill(stack: Stack, done: int, leader: bool) -> None:
    nc = await nats.connect(server_urls(stack.url))
    js = nc.jetstream()
    try:
        while True:
            info = await js.stream_info(names.EVENTS_STREAM)
            if (info.state.messages or 0) >= done:
                break
            await asyncio.sleep(0.2)
        name = (info.cluster.leader if info.cluster else None) or "x-n0"
    finally:
        await nc.close()
    node = int(name.rsplit("-n", 1)[1])
    if not leader:
        node = (node + 1) % NODES
    stack.kill(f"nats{node}")
    STATE["killed"] = (node, time.time())


STATE: dict[str, tuple[int, float]] = {}


def scaling(sizes: list[int], rtf: float) -> None:
    banner(f"scaling: {', '.join(map(str, sizes))} workers, RTF {rtf}, {NODES}-node cluster, replicas 3")
    walls: dict[int, float] = {}
    work = 0.0  # the book's model time, measured by the first size's workers (uncontended: 1 worker)
    print("workers  wall s  ideal s  speed-up  overhead  first segment s  seg/s  workers finish within s  "
          "CPU s: nats (3 nodes) / parse+assemble / workers", flush=True)
    for size in sizes:
        run, cpu = run_fleet(f"w{size}", [rtf] * size)
        work = work or sum(model for _, _, model in run.per_worker.values())
        ideal = work / size
        walls[size] = run.last_segment_s
        nats_cpu = sum(v for k, v in cpu.items() if k.startswith("nats"))
        print(f"{size:7d}  {run.last_segment_s:6.1f}  {ideal:7.1f}  {walls[sizes[0]] * sizes[0] / walls[size]:7.2f}x  "
              f"{100 * (run.last_segment_s / ideal - 1):7.1f}%  {run.first_segment_s:15.2f}  "
              f"{run.segments / run.last_segment_s:5.1f}  "
              f"{max(run.finished.values()) - min(run.finished.values()):23.2f}  "
              f"{nats_cpu:.1f} / {cpu.get('parse+assemble', 0):.1f} / {cpu.get('tts workers', 0):.1f}", flush=True)
    for size, seed in SEEDS_TABLE.items():
        if size in walls and 1 in walls:
            print(f"{size} workers: {walls[1] / walls[size]:.2f}x here, {seed}x in the background documents")
    for size, target in TARGETS.items():
        if size in walls and 1 in walls:
            print(f"{size} workers: target >= {target}x: {'met' if walls[1] / walls[size] >= target else 'MISSED'}")


def uneven(workers: int) -> None:
    fast, slow = 0.25, 0.5
    rtfs = [fast if n % 2 == 0 else slow for n in range(workers)]
    banner(f"uneven: {workers} workers, half at RTF {fast}, half at {slow}")
    run, _ = run_fleet("uneven", rtfs)
    rtf_of = {f"w{n}": rtf for n, rtf in enumerate(rtfs)}
    # spoken seconds each worker produced (model time / its RTF; pauses are not model time)
    spoken = {worker: model / rtf_of[worker] for worker, (_, _, model) in run.per_worker.items()}
    total = sum(spoken.values())
    fleet_speed = sum(1 / rtf for rtf in rtfs)  # spoken seconds per second, the whole fleet
    one_segment = max(model / count for count, _, model in run.per_worker.values())  # the slowest worker's mean
    print("worker  RTF   segments  share of the work  share of the fleet's speed")
    for worker in sorted(run.per_worker, key=lambda w: int(w[1:])):
        share = 100 * spoken[worker] / total
        print(f"{worker:6s}  {rtf_of[worker]:.2f}  {run.per_worker[worker][0]:8d}  {share:16.1f}%  "
              f"{100 / rtf_of[worker] / fleet_speed:25.1f}%")
    fast_work = sum(v for w, v in spoken.items() if rtf_of[w] == fast)
    print(f"fast workers did {fast_work / (total - fast_work):.2f}x the work of the slow ones (speed ratio 2)")
    print(f"synthesis (first to last segment) {run.last_segment_s - run.first_segment_s:.1f} s; "
          f"work / fleet speed + one segment (the slow workers' mean) = {total / fleet_speed + one_segment:.1f} s; "
          f"request to last segment {run.last_segment_s:.1f} s")


def node_loss(workers: int, rtf: float = 0.5) -> None:
    banner(f"node loss: {workers} workers, RTF {rtf}; kill -9 a node a third of the way")
    clean, _ = run_fleet("clean", [rtf] * workers)
    print(f"clean run: {clean.last_segment_s:.1f} s to the last segment, {clean.segments} segments, "
          f"{clean.model_runs} model runs", flush=True)
    for leader in (True, False):
        lost(clean, workers, rtf, leader)


def lost(clean: PipelineRun, workers: int, rtf: float, leader: bool) -> None:
    lossy, _ = run_fleet("loss", [rtf] * workers, kill_after=clean.segments // 3, leader=leader)
    node = STATE.get("killed", (-1, 0.0))[0]
    runs = STATE["model_runs"][0]
    connected = [f"w{n}" for n in range(workers) if n % NODES == node]
    print(f"node n{node} killed ({'the events leader' if leader else 'not the events leader'}; workers "
          f"{', '.join(connected)} connected to it): "
          f"{lossy.last_segment_s:.1f} s to the last segment, {lossy.segments} segments, "
          f"{runs} model runs counted by the workers ({runs - clean.model_runs} synthesized twice; the log shows "
          f"{lossy.model_runs} model runs and {lossy.cache_hits} cache hits: a run whose event was lost with "
          "the node is a cache hit on redelivery)")
    print(f"time lost to the failure: {lossy.last_segment_s - clean.last_segment_s:.1f} s "
          f"({100 * (lossy.last_segment_s / clean.last_segment_s - 1):.1f}%)")


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "scaling"
    if mode == "scaling":
        sizes = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "1,2,4,8,16,32").split(",")]
        scaling(sizes, float(sys.argv[3]) if len(sys.argv) > 3 else 0.3)
    elif mode == "uneven":
        uneven(int(sys.argv[2]) if len(sys.argv) > 2 else 8)
    elif mode == "node-loss":
        node_loss(int(sys.argv[2]) if len(sys.argv) > 2 else 8)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
