"""Shared benchmark helpers: run the real pipeline (nats-server + service processes) on a book,
and the raw engine over exactly the same segments. Numbers are printed, never asserted."""

from __future__ import annotations

import asyncio
import atexit
import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors

from events import names
from events.codec import decode_event
from events.projection import COMPLETED, fold
from events.types import BookParsed, JobAccepted, JobCompleted, SegmentSynthesized
from services.bus.connect import server_urls
from services.bus.control import fleet_status
from services.bus.publish import last_event, replay
from services.bus.topology import ensure_topology
from services.parse.plan import plan_job
from services.parse.readers.epub import read_epub
from services.settings import Settings
from services.testing.cluster import Cluster, worker_model_runs
from services.testing.waiting import job_events, read_events, wait_for
from services.tts.engines import load_engine
from services.tts.render import render_segments
from services.voices import resolve_voice

ROOT = Path(__file__).resolve().parent.parent
BOOKS = ROOT.parent / "shared" / "testbooks"


@dataclass
class PipelineRun:
    wall_s: float            # request published -> job.completed
    parsed_s: float          # request published -> book.parsed (every segment queued)
    last_segment_s: float    # request published -> last segment.synthesized
    audio_s: float
    segments: int
    model_runs: int
    cache_hits: int
    per_worker: dict[str, tuple[int, float, float]]  # worker -> (segments synthesized, their audio s, model s)
    first_segment_s: float = 0.0  # request published -> first segment.synthesized
    finished: dict[str, float] = field(default_factory=dict)  # worker -> request published -> its last segment
    job_id: str = ""
    failed_segments: int = 0
    chapters: int = 0


# what a read may raise while a cluster elects leaders: the poll tries again
NOT_YET = (TimeoutError, nats.errors.Error)


def write_book(path: Path, identifier: str, title: str, language: str, author: str,
               chapters: list[tuple[str, tuple[str, ...]]]) -> Path:
    """An EPUB 3 with one XHTML file and one TOC entry per (title, paragraphs) chapter."""
    from html import escape

    from ebooklib import epub

    out = epub.EpubBook()
    out.set_identifier(identifier)
    out.set_title(title)
    out.set_language(language)
    if author:
        out.add_author(author)
    items = []
    for number, (heading, paragraphs) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"c{number}.xhtml", lang=language)
        item.content = "<section>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs) + "</section>"
        out.add_item(item)
        items.append(item)
    out.toc = items
    out.add_item(epub.EpubNcx())
    out.add_item(epub.EpubNav())
    out.spine = items
    epub.write_epub(str(path), out)
    return path


def subset_book(source: Path, chapters: int, folder: Path, edition: str = "") -> Path:
    """An EPUB with the first ``chapters`` chapters of ``source`` (for shorter benchmark runs)."""
    book = read_epub(source)
    return write_book(folder / f"{source.stem}-{chapters}.epub", f"bench-{source.stem}-{chapters}{edition}",
                      f"{book.title} (chapters 1-{chapters}){edition}", book.language, book.author,
                      [(c.title, c.paragraphs) for c in book.chapters[:chapters]])


class Stack(Cluster):
    """The test harness's stack (``services.testing.cluster.Cluster``) set up for one benchmark configuration:
    the services in ``roles`` (one process per tuple; ``check`` among them for a checked job) and
    ``workers`` tts processes, on one
    nats-server or a cluster of ``nodes`` (processes spread over the nodes); ``worker_env``:
    variables of each worker in turn (its simulated speed, say)."""

    def __init__(self, folder: Path, workers: int, threads: int, env: dict[str, str] | None = None,
                 roles: tuple[tuple[str, ...], ...] = (("parse", "assemble"),), nodes: int = 1,
                 worker_env: Sequence[Mapping[str, str]] = (), preload: tuple[str, ...] = (),
                 check: str = "off") -> None:
        # ``check``: the parse service's default check policy (off unless a benchmark measures the check:
        # a checked job waits for a check worker, one of ``roles``)
        super().__init__(folder, Settings(data_dir=folder / "data", input_dir=folder, preload=preload, check=check),
                         env=env, nodes=nodes)
        self.folder, self.workers, self.threads, self.roles = folder, workers, threads, roles
        self.worker_env = list(worker_env)

    def __enter__(self) -> Stack:
        super().__enter__()
        asyncio.run(self._topology())
        for number, roles in enumerate(self.roles):
            self.start("+".join(roles), *roles, node=number % self.nodes)
        for number in range(self.workers):
            env = self.worker_env[number] if number < len(self.worker_env) else None
            self.start(f"w{number}", "tts", "--threads", str(self.threads), node=number % self.nodes, env=env)
        time.sleep(3.0)  # services start and load their models before the clock starts
        asyncio.run(self._ready())
        return self

    def worker_model_runs(self) -> int:
        """Model runs as the tts workers count them (the log misses a run whose event was lost
        with a server, when a redelivery then found its audio in the cache)."""
        return asyncio.run(worker_model_runs(self.url))

    async def _topology(self) -> None:
        nc = await nats.connect(server_urls(self.url))
        await ensure_topology(nc.jetstream(), Settings(nats_url=self.url))
        await nc.close()

    async def _ready(self, timeout: float = 180.0) -> None:
        """Wait until every tts worker answers on the control plane (32 take a while to start)."""
        nc = await nats.connect(server_urls(self.url))

        async def started() -> bool:
            ready = [s for s in await fleet_status(nc, 1.0) if s.get("role") == "tts"
                     and (s.get("voices_loaded") or not self.settings.preload)]
            return len(ready) >= self.workers

        try:
            await wait_for(started, timeout, every=0.0)
        finally:
            await nc.close()

    @property
    def services(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: proc for name, proc in self.procs.items() if not name.startswith("w")}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far: nats-server, each service process, all tts workers together."""
        used = super().cpu_seconds()
        workers = sum(v for name, v in used.items() if name.startswith("w"))
        return {**{name: v for name, v in used.items() if not name.startswith("w")}, "tts workers": workers}

    def convert(self, book: Path, engine: str = "piper", voice: str | None = None,
                extra: dict[str, object] | None = None) -> PipelineRun:
        """Convert ``book`` on this stack; ``extra`` adds request fields (``lexicon``, ``pauses``)."""
        return asyncio.run(self._convert(book, engine, voice, extra or {}))

    async def _convert(self, book: Path, engine: str, voice: str | None, extra: dict[str, object]) -> PipelineRun:
        shutil.copy(book, self.folder / book.name)
        nc = await nats.connect(server_urls(self.url))
        js = nc.jetstream()
        request: dict[str, object] = {"source": book.name, "request_id": f"bench-{time.time()}", **extra}
        if engine:  # none: the voice the book's language picks
            request["engine"] = engine
        if voice:
            request["voice"] = voice
        import orjson

        started = time.time()
        await js.publish(names.REQUEST_SUBJECT, orjson.dumps(request))

        async def accepted() -> str | None:
            found = [e for e in await read_events(js) if isinstance(e, JobAccepted)
                     and e.request_id == request["request_id"]]
            return found[0].job_id if found else None

        # cheap polling: the benchmark must not take CPU from the workers
        job = await wait_for(accepted, math.inf, every=0.5, retry=NOT_YET)
        await wait_for(lambda: last_event(js, job, JobCompleted.KIND), math.inf, every=1.0, retry=NOT_YET)
        mine = await job_events(js, job)
        assert fold(job, mine).status == COMPLETED
        # timestamps from the log itself (server time of each event)
        msgs = await replay(js, names.EVENTS_STREAM, names.job_events_filter(job))
        stamps: dict[type, list[float]] = {}
        finished: dict[str, float] = {}
        for msg in msgs:
            event = decode_event(msg.data)
            if isinstance(event, JobAccepted) and event.request_id != request["request_id"]:
                continue  # an earlier request for the same job
            stamps.setdefault(type(event), []).append(msg.metadata.timestamp.timestamp())
            if isinstance(event, SegmentSynthesized) and not event.cache_hit:
                finished[event.worker] = msg.metadata.timestamp.timestamp() - started
        done = fold(job, mine)
        await nc.close()
        segs = [e for e in mine if isinstance(e, SegmentSynthesized)]
        per_worker: dict[str, tuple[int, float, float]] = {}
        for seg in segs:
            if not seg.cache_hit:
                count, seconds, model = per_worker.get(seg.worker, (0, 0.0, 0.0))
                per_worker[seg.worker] = (count + 1, seconds + seg.seconds, model + seg.synth_seconds)
        return PipelineRun(
            wall_s=max(stamps[JobCompleted] + stamps[JobAccepted]) - started,
            parsed_s=max(stamps.get(BookParsed, []) + stamps[JobAccepted]) - started,
            last_segment_s=max(stamps[SegmentSynthesized] + stamps[JobAccepted]) - started,
            audio_s=done.audio_seconds, segments=done.total_segments,
            model_runs=sum(1 for e in segs if not e.cache_hit), cache_hits=sum(1 for e in segs if e.cache_hit),
            per_worker=per_worker, first_segment_s=min(stamps[SegmentSynthesized]) - started, finished=finished,
            job_id=job, failed_segments=len(done.failed_segments), chapters=len(done.chapters),
        )


def raw_engine_seconds(book: Path, threads: int, engine: str = "piper") -> tuple[float, float, int]:
    """Raw engine over exactly the pipeline's segments, in one thread: (wall s, audio s, segments)."""
    model, jobs = _raw_plan(book, engine, threads)
    started = time.perf_counter()
    audio = 0.0
    for job in jobs:
        pcm = render_segments(model, [job])[0]
        audio += len(pcm) / 2 / model.sample_rate
    return time.perf_counter() - started, audio, len(jobs)


def _raw_plan(book: Path, engine: str, threads: int) -> tuple[Any, list[Any]]:
    """The engine's default voice loaded with ``threads``, and the pipeline's segment commands for ``book``."""
    voice = resolve_voice(engine, None)
    plan = plan_job(read_epub(book), "bench", voice, 1.0, Settings().max_segment_chars)
    return load_engine(voice, threads=threads), [job for _, job in plan.jobs]


def raw_engine_processes(book: Path, processes: int, engine: str = "piper") -> float:
    """Raw engine over the pipeline's segments shared out to ``processes`` processes of one thread
    each, all at once (no NATS, no encoding): the floor the pipeline's workers could reach. Wall s
    from the moment every process has loaded its model."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    workers = [context.Process(target=_raw_share_after, args=(ready, book, engine, n, processes))
               for n in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def _raw_share_after(ready: Any, book: Path, engine: str, share: int, shares: int) -> None:
    model, jobs = _raw_plan(book, engine, threads=1)
    ready.wait()
    for job in jobs[share::shares]:
        render_segments(model, [job])


def temp_folder(name: str) -> Path:
    """A new temporary folder for one benchmark's files, removed when the benchmark exits."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def banner(title: str) -> None:
    print(f"\n== {title}", flush=True)
