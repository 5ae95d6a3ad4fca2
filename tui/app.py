"""The live dashboard: jobs, chapters, workers and the queue, read from the bus; actions are commands.

It holds nothing the log cannot rebuild: every job's state is the fold of its events (history,
then live), workers come from the control plane, the queue from consumer info. Updates are
merged and the tables rewritten in place on a one-second tick, rows keyed by id.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

import orjson
from nats.aio.client import Client
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, Sparkline, Static, TabbedContent, TabPane

from events import names
from events.projection import COMPLETED, FINAL
from events.requests import ConvertRequest, resume_request
from events.types import JobCancelled
from services.bus.control import fleet_status
from services.bus.jobs import events_on, purge_job_queue, queue_depths, served_engines
from services.bus.pausing import pause_synthesis, resume_synthesis
from services.bus.publish import publish_event
from services.bus.uploads import upload_book
from tui.model import Board

Connect = Callable[[], Awaitable[Client]]
JOB_COLUMNS = ("book", "state", "segments", "audio", "expected", "elapsed", "ETA", "failed", "cached", "job")
WORKER_COLUMNS = ("role", "name", "state", "done", "audio", "rtf", "up", "current")
LOST_AFTER_S = 6.0  # a worker that stops answering for this long is shown as lost


class Confirm(ModalScreen[bool]):
    """Ask before doing something that cannot be undone."""

    BINDINGS: ClassVar = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Label("[b]y[/b] yes   [b]n[/b] no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Submit(ModalScreen[str]):
    """Ask for the path of a book to convert (its voice is chosen by its language)."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Book to convert (EPUB path on this machine; enter to submit, escape to cancel):")
            yield Input(placeholder="~/books/mybook.epub", id="book-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")


class Help(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]audiobook dashboard[/b]\n\n"
                        "tab / shift+tab   next / previous table\n"
                        "up / down         choose a job (its chapters show below) or a worker\n"
                        "s                 submit a book (a path on this machine)\n"
                        "r                 resume the chosen job: retry its failed segments, continue a cancel\n"
                        "c                 cancel the chosen job (asks first)\n"
                        "d                 drain the chosen tts worker (asks first)\n"
                        "p                 pause all synthesis (asks first), or unpause it\n"
                        "1 2 3             jobs, workers, queue\n"
                        "?                 this help      q  quit")


class Dashboard(App[None]):
    """``audiobook dashboard``: the pipeline, live."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "audiobook"
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit"), Binding("s", "submit", "Submit book"), Binding("r", "resume", "Resume job"),
        Binding("c", "cancel", "Cancel job"), Binding("d", "drain", "Drain worker"),
        Binding("p", "pause", "Pause/unpause"),
        Binding("1", "show('jobs')", "Jobs"), Binding("2", "show('workers')", "Workers"),
        Binding("3", "show('queue')", "Queue"), Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, connect: Connect, tick: float = 1.0) -> None:
        super().__init__()
        self.connect, self.tick = connect, tick
        self.board = Board()
        self.nc: Client | None = None
        self.instances: dict[str, tuple[float, dict[str, object]]] = {}  # instance id -> (last seen, status)
        self.polled = False
        self.paused: list[str] = []  # engines whose queue is paused (consumer info)
        self.rates: deque[float] = deque([0.0] * 60, maxlen=60)  # segments per second, one per tick
        self._done: deque[tuple[float, int]] = deque(maxlen=max(2, round(10 / tick) + 1))

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="jobs"):
            with TabPane("Jobs", id="jobs"):
                yield DataTable(id="job-table", cursor_type="row")
                yield DataTable(id="chapter-table", cursor_type="row")
            with TabPane("Workers", id="workers"):
                yield DataTable(id="worker-table", cursor_type="row")
            with TabPane("Queue", id="queue"):
                yield Static("waiting for the server...", id="queue-text")
                yield Sparkline(list(self.rates), id="rate")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#job-table", DataTable).add_columns(*JOB_COLUMNS)
        self.query_one("#chapter-table", DataTable).add_columns("#", "chapter", "segments", "failed")
        self.query_one("#worker-table", DataTable).add_columns(*WORKER_COLUMNS)
        self.run_worker(self.follow(), exclusive=True, group="feed")
        self.set_interval(self.tick, self.refresh_jobs)
        self.set_interval(2 * self.tick, self.poll)

    async def follow(self) -> None:
        """Fold every job's events into the board: the history, then live."""
        self.nc = await self.connect()
        feed = events_on(self.nc.jetstream(), [names.all_events_filter()])
        async with contextlib.aclosing(feed):
            async for seq, at, event in feed:
                self.board.apply(seq, at, event)

    def selected_job(self) -> str | None:
        table = self.query_one("#job-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def refresh_jobs(self) -> None:
        """Rewrite only the rows of jobs that changed (and the running ones' clocks)."""
        table, now = self.query_one("#job-table", DataTable), time.time()
        changed = self.board.take_dirty() | {j for j, s in self.board.jobs.items() if s.status not in FINAL}
        for job_id in sorted(changed):
            cells = self.board.row(job_id, now, self.served).cells()
            if job_id in table.rows:
                for column, value in zip(table.columns, cells, strict=True):
                    table.update_cell(job_id, column, value, update_width=True)
            else:
                table.add_row(*cells, key=job_id)
        self.show_chapters()
        done = sum(s.done_segments - s.cache_hits for s in self.board.jobs.values())
        self._done.append((time.monotonic(), done))
        (t0, d0), (t1, d1) = self._done[0], self._done[-1]
        self.rates.append((d1 - d0) / (t1 - t0) if t1 > t0 else 0.0)  # model work over the last ~10 s
        self.query_one("#rate", Sparkline).data = list(self.rates)

    def show_chapters(self) -> None:
        job_id = self.selected_job()
        table = self.query_one("#chapter-table", DataTable)
        rows = self.board.chapters(job_id) if job_id else []
        if table.row_count != len(rows):
            table.clear()
            for row in rows:
                table.add_row(*row.cells(), key=str(row.index))
            return
        for row in rows:
            for column, value in zip(table.columns, row.cells(), strict=True):
                table.update_cell(str(row.index), column, value, update_width=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "job-table":
            self.query_one("#chapter-table", DataTable).clear()
            self.show_chapters()

    @property
    def served(self) -> set[str] | None:
        """Engines that live tts workers run (None before the first look at the control plane)."""
        if not self.polled:
            return None
        now = time.monotonic()
        return served_engines([status for seen, status in self.instances.values() if now - seen <= LOST_AFTER_S])

    async def poll(self) -> None:
        """Workers from the control plane, the queue from consumer info."""
        if self.nc is None:
            return
        now = time.monotonic()
        for status in await fleet_status(self.nc, wait=0.4):
            self.instances[str(status["id"])] = (now, status)
        self.polled = True
        table = self.query_one("#worker-table", DataTable)
        for instance, (seen, status) in sorted(self.instances.items(), key=lambda w: str(w[1][1].get("name"))):
            lost = now - seen > LOST_AFTER_S
            rtf = status.get("real_time_factor")
            cells = (str(status.get("role", "?")), str(status.get("name", "?")),
                     "LOST" if lost else str(status.get("state", "?")),
                     str(status.get("segments_done", status.get("requests", status.get("builds", "")))),
                     f"{float(str(status.get('audio_seconds') or 0)) / 3600:.2f} h", "-" if rtf is None else str(rtf),
                     f"{float(str(status.get('uptime_s') or 0)):.0f} s", str(status.get("current") or ""))
            if instance in table.rows:
                for column, value in zip(table.columns, cells, strict=True):
                    table.update_cell(instance, column, value, update_width=True)
            else:
                table.add_row(*cells, key=instance)
        depths = await queue_depths(self.nc.jetstream())
        self.paused = [d.engine for d in depths if d.paused]
        busy = "   ".join(f"{d.engine}: {d.pending} queued" + (" (PAUSED)" if d.paused else "")
                           for d in depths if d.pending or d.in_flight or d.paused)
        self.query_one("#queue-text", Static).update(
            f"queued segments: {sum(d.pending for d in depths)}   in flight: {sum(d.in_flight for d in depths)}   "
            f"redelivered: {sum(d.redelivered for d in depths)}   segments/s now: {self.rates[-1]:.1f}"
            + (f"\n{busy}" if busy else ""))

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_help(self) -> None:
        self.push_screen(Help())

    def action_submit(self) -> None:
        async def submit(path: str | None) -> None:
            book = Path(path or "").expanduser()
            if not path or self.nc is None:
                return
            if not book.is_file():
                self.notify(f"{book}: no such file", severity="error")
                return
            js = self.nc.jetstream()
            source = await upload_book(js, book)
            await js.publish(names.REQUEST_SUBJECT, ConvertRequest(source_object=source).encode())
            self.notify(f"submitted {book.name}: it appears here once the parse service accepts it")

        self.push_screen(Submit(), submit)

    def action_resume(self) -> None:
        job_id = self.selected_job()
        state = self.board.jobs.get(job_id or "")
        if job_id is None or state is None or not state.source_object or state.status == COMPLETED:
            self.notify("choose an unfinished job first", severity="warning")
            return
        if self.nc is not None:
            request = resume_request(state)
            self.run_worker(self.nc.jetstream().publish(names.REQUEST_SUBJECT, request.encode()), group="actions")
            self.notify(f"asked to resume {state.title or job_id}: failed and missing segments are queued again")

    def action_cancel(self) -> None:
        job_id = self.selected_job()
        state = self.board.jobs.get(job_id or "")
        if job_id is None or state is None or state.status in FINAL:
            self.notify("choose a running job first", severity="warning")
            return

        async def cancel(yes: bool | None) -> None:
            if yes and self.nc is not None:
                js = self.nc.jetstream()
                await publish_event(js, JobCancelled(job_id=job_id, reason="cancelled from the dashboard",
                                                     generation=state.generation))
                dropped = await purge_job_queue(js, job_id)
                self.notify(f"cancelled {job_id}: {dropped} queued segment(s) dropped")

        self.push_screen(Confirm(f"Cancel {state.title or job_id}?"), cancel)

    def action_pause(self) -> None:
        if self.nc is None:
            return
        js = self.nc.jetstream()
        if self.paused:
            self.run_worker(resume_synthesis(js), group="actions")
            self.notify(f"synthesis continues ({', '.join(self.paused)})")
            self.paused = []
            return

        async def pause(yes: bool | None) -> None:
            if yes:
                await pause_synthesis(js)
                self.notify("synthesis paused: workers finish what they hold; p again continues")

        self.push_screen(Confirm("Pause all synthesis? Queued segments wait; nothing is lost."), pause)

    def action_drain(self) -> None:
        table = self.query_one("#worker-table", DataTable)
        if self.query_one(TabbedContent).active != "workers" or not table.row_count:
            self.notify("choose a tts worker on the Workers tab first", severity="warning")
            return
        instance = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        status = self.instances[instance][1]
        if status.get("role") != "tts":
            self.notify("only tts workers drain", severity="warning")
            return

        async def drain(yes: bool | None) -> None:
            if yes and self.nc is not None:
                reply = await self.nc.request(names.control_subject("tts", instance, "drain"), b"", timeout=5)
                self.notify(f"{status.get('name')}: {orjson.loads(reply.data).get('state')}")

        self.push_screen(Confirm(f"Drain {status.get('name')}? It finishes its segments and exits."), drain)
