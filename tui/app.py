"""The live dashboard: jobs, chapters, workers and the queue, read from the bus; actions are the client's.

It holds nothing the log cannot rebuild: every job's state is the fold of its events (history,
then live), workers come from the control plane, the queue from consumer info. Updates are
merged and the tables rewritten in place on a one-second tick, rows keyed by id. Every action
is a verb of the operator API (``services.client``), with the same rule and trace as the CLI's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import ClassVar

from nats.aio.client import Client
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Label, Sparkline, Static, TabbedContent, TabPane

from events.projection import FINAL, PAUSED, JobState
from services.client import ClientError, PipelineClient, QueueDepth, ServerError, served_engines
from services.client.guards import check_cancel, dropped_words, is_tts
from tui.model import Board, WorkerRates, in_flight_by_chapter
from tui.screens import Confirm, Help, Submit

Connect = Callable[[], Awaitable[Client]]
Cells = tuple[str, ...]
JOB_COLUMNS = ("book", "state", "share", "segments", "audio", "expected", "elapsed", "ETA", "failed", "cached", "job")
CHAPTER_COLUMNS = ("#", "chapter", "segments", "in flight", "queued", "failed", "flagged")
WORKER_COLUMNS = ("role", "name", "state", "done", "seg/s", "audio", "rtf", "up", "current")
LOST_AFTER_S = 6.0  # a worker that stops answering for this long is shown as lost
HISTORY = 120  # ticks of throughput kept for the plots
YIELD_EVERY = 100  # events folded between two looks at the screen and the keyboard


def sync_rows(table: DataTable[str], rows: Iterable[tuple[str, Cells]]) -> None:
    """Add new rows and rewrite only the cells that changed (rows keyed by id; no redraw of the rest).

    A column is measured again only when a new value is wider than it: measuring one costs a
    look at every cell in it, 87 ms of CPU per control-plane poll at 30 workers when always done.
    """
    for key, cells in rows:
        if key not in table.rows:
            table.add_row(*cells, key=key)
            continue
        for column, old, new in zip(table.columns, table.get_row(key), cells, strict=True):
            if old != new:  # re-measuring a column costs every cell in it: only when the text outgrows it
                grows = cell_len(new) > table.columns[column].content_width
                table.update_cell(key, column, new, update_width=grows)


class Dashboard(App[None]):
    """``audiobook dashboard``: the pipeline, live."""

    CSS_PATH = Path(__file__).with_name("dashboard.tcss")  # absolute: subclasses live elsewhere
    TITLE = "audiobook"
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit"), Binding("s", "submit", "Submit book"), Binding("r", "resume", "Resume job"),
        Binding("c", "cancel", "Cancel job"), Binding("d", "drain", "Drain worker"),
        Binding("p", "pause_job", "Pause job"), Binding("P", "pause_all", "Pause all"),
        Binding("1", "show('jobs')", "Jobs"), Binding("2", "show('workers')", "Workers"),
        Binding("3", "show('queue')", "Queue"), Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, connect: Connect, tick: float = 1.0, now: Callable[[], float] = time.time,
                 title: str | None = None, focus: str | None = None) -> None:
        super().__init__()
        self.connect, self.tick, self.now = connect, tick, now
        self.focus = focus  # a job to choose once it appears (the one `convert --dashboard` follows)
        if title:
            self.sub_title = title
        self.board = Board()
        self.nc: Client | None = None
        self.client: PipelineClient | None = None  # the operator API on ``nc``: every action goes through it
        self.instances: dict[str, tuple[float, dict[str, object]]] = {}  # instance id -> (last seen, status)
        self.worker_rates = WorkerRates()
        self.polled = False
        self.paused: list[str] = []  # engines whose queue is paused (consumer info)
        self.slots: dict[str, int] = {}  # each engine's commands in workers' hands (the queue poll)
        self.rates: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)  # segments/s, one per tick
        self.audio_rates: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)  # audio seconds/s
        self._done: deque[tuple[float, int, float]] = deque(maxlen=max(2, round(10 / tick) + 1))
        self._chapters_of: str | None = None  # the job whose chapters the chapter table shows
        self._polls: dict[str, asyncio.Task[None]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="jobs"):
            with TabPane("Jobs", id="jobs"):
                yield DataTable(id="job-table", cursor_type="row")
                yield DataTable(id="chapter-table", cursor_type="row")
                yield Static("", id="job-detail")
            with TabPane("Workers", id="workers"):
                yield DataTable(id="worker-table", cursor_type="row")
            with TabPane("Queue", id="queue"):
                yield Static("waiting for the server...", id="queue-text")
                yield Label("segments per second (model work), last 2 minutes", classes="plot-label")
                yield Sparkline(list(self.rates), id="rate")
                yield Label("seconds of audio per second", classes="plot-label")
                yield Sparkline(list(self.audio_rates), id="audio-rate")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#job-table", DataTable).add_columns(*JOB_COLUMNS)
        self.query_one("#chapter-table", DataTable).add_columns(*CHAPTER_COLUMNS)
        self.query_one("#worker-table", DataTable).add_columns(*WORKER_COLUMNS)
        self.run_worker(self.follow(), exclusive=True, group="feed")
        self.set_interval(self.tick, self._tick)
        self.set_interval(2 * self.tick, self._poll)

    def _tick(self) -> None:
        with contextlib.suppress(NoMatches):  # a tick that fires while the app closes draws nothing
            self.refresh_jobs()

    def _poll(self) -> None:
        """Start this round's polls as tasks of their own, one of each at a time: the timer never
        waits on the network, so closing the app never waits on (or cancels) a NATS request."""
        for name, poll in (("workers", self.poll_workers), ("queue", self.poll_queue)):
            running = self._polls.get(name)
            if running is None or running.done():
                self._polls[name] = asyncio.create_task(poll())

    async def follow(self) -> None:
        """Fold every job's events into the board: the history, then live."""
        self.nc = await self.connect()
        self.client = PipelineClient(self.nc, "dashboard")
        feed = self.client.every_event()
        async with contextlib.aclosing(feed):
            async for seq, at, event in feed:
                self.board.apply(seq, at, event)
                if seq % YIELD_EVERY == 0:  # a long history must not hold the screen and the keys
                    await asyncio.sleep(0)

    def selected_job(self) -> str | None:
        table = self.query_one("#job-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def refresh_jobs(self) -> None:
        """Rewrite the cells of jobs that changed (and the running ones' clocks); the chapters; the rates."""
        table, now = self.query_one("#job-table", DataTable), self.now()
        changed = self.board.take_dirty() | {j for j, s in self.board.jobs.items() if s.status not in FINAL}
        shares = self.board.shares(self.slots)
        sync_rows(table, ((job_id, self.board.row(job_id, now, self.served, shares).cells())
                          for job_id in sorted(changed)))
        if self.focus is not None and self.focus in table.rows:
            table.move_cursor(row=table.get_row_index(self.focus))
            self.focus = None
        self.show_chapters()
        done = sum(s.done_segments - s.cache_hits for s in self.board.jobs.values())
        self._done.append((time.monotonic(), done, self.board.model_audio))
        (t0, d0, a0), (t1, d1, a1) = self._done[0], self._done[-1]
        self.rates.append((d1 - d0) / (t1 - t0) if t1 > t0 else 0.0)  # model work over the last ~10 s
        self.audio_rates.append((a1 - a0) / (t1 - t0) if t1 > t0 else 0.0)
        self.show_rates()

    def show_rates(self) -> None:
        self.query_one("#rate", Sparkline).data = list(self.rates)
        self.query_one("#audio-rate", Sparkline).data = list(self.audio_rates)

    def show_chapters(self) -> None:
        """The chosen job's chapters (done, in flight, queued, failed), failures and latest events."""
        job_id = self.selected_job()
        table = self.query_one("#chapter-table", DataTable)
        if job_id != self._chapters_of:
            table.clear()
            self._chapters_of = job_id
        held = in_flight_by_chapter(self.live_statuses(), job_id) if job_id else None
        rows = self.board.chapters(job_id, held) if job_id else []
        sync_rows(table, ((str(row.index), row.cells()) for row in rows))
        self.query_one("#job-detail", Static).update(self.board.detail(job_id) if job_id else "")

    def live_statuses(self) -> list[dict[str, object]]:
        """The statuses of the instances that answered lately."""
        now = self.now()
        return [status for seen, status in self.instances.values() if now - seen <= LOST_AFTER_S]

    @property
    def served(self) -> set[str] | None:
        """Engines that live tts workers run (None before the first look at the control plane)."""
        if not self.polled:
            return None
        return served_engines(self.live_statuses())

    async def poll_workers(self) -> None:
        """Workers from the control plane (its own task: a slow queue answer never delays it)."""
        if self.client is None:
            return
        with contextlib.suppress(ClientError):  # no answer this round: LOST says it
            statuses = await self.client.workers(wait=0.4)
            if self.is_running:
                with contextlib.suppress(NoMatches):  # the answers came while the app was closing
                    self.show_workers(statuses)

    async def poll_queue(self) -> None:
        """The queues from consumer info (the server's JetStream API, slower under load)."""
        if self.client is None:
            return
        with contextlib.suppress(ClientError):
            depths = await self.client.queues()
            if self.is_running:
                with contextlib.suppress(NoMatches):
                    self.show_queue(depths)

    def show_workers(self, statuses: list[dict[str, object]]) -> None:
        """Fold one round of control-plane answers into the worker table; the silent ones turn LOST."""
        now = self.now()
        for status in statuses:
            self.instances[str(status["id"])] = (now, status)
        self.polled = True
        rows = []
        for instance, (seen, status) in sorted(self.instances.items(), key=lambda w: str(w[1][1].get("name"))):
            lost = now - seen > LOST_AFTER_S
            done = int(str(status.get("segments_done", status.get("requests", status.get("builds", 0))) or 0))
            rate = None if lost else self.worker_rates.record(instance, seen, done)
            rtf = status.get("real_time_factor")
            rows.append((instance, (
                str(status.get("role", "?")), str(status.get("name", "?")),
                "LOST" if lost else str(status.get("state", "?")), str(done),
                "-" if rate is None else f"{rate:.1f}",
                f"{float(str(status.get('audio_seconds') or 0)) / 3600:.2f} h", "-" if rtf is None else str(rtf),
                f"{float(str(status.get('uptime_s') or 0)):.0f} s", str(status.get("current") or ""))))
        sync_rows(self.query_one("#worker-table", DataTable), rows)

    def show_queue(self, depths: list[QueueDepth]) -> None:
        self.paused = [d.engine for d in depths if d.paused]
        self.slots = {d.engine: d.in_flight for d in depths}  # what each engine's workers hold: its fleet's size
        busy = "   ".join(f"{d.engine}: {d.pending} queued" + (" (PAUSED)" if d.paused else "")
                           for d in depths if d.pending or d.in_flight or d.paused)
        self.query_one("#queue-text", Static).update(
            f"queued segments: {sum(d.pending for d in depths)}   in flight: {sum(d.in_flight for d in depths)}   "
            f"redelivered: {sum(d.redelivered for d in depths)}   segments/s now: {self.rates[-1]:.1f}   "
            f"audio s/s now: {self.audio_rates[-1]:.1f}" + (f"\n{busy}" if busy else ""))

    def action_show(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_help(self) -> None:
        self.push_screen(Help())

    async def _act(self, action: Awaitable[str]) -> None:
        """Run one verb of the client and say what it did, or why it did not."""
        try:
            said = await action
        except ClientError as exc:
            self.notify(str(exc), severity="error" if isinstance(exc, ServerError) else "warning")
            return
        self.notify(said)

    def act(self, action: Awaitable[str]) -> None:
        """Run a verb in the background (never on the key press's handler)."""
        self.run_worker(self._act(action), group="actions")

    def chosen_job(self) -> tuple[str, JobState] | None:
        """The chosen job and its state (None, said, when there is none)."""
        job_id = self.selected_job()
        state = self.board.jobs.get(job_id or "")
        if job_id is None or state is None:
            self.notify("choose a job first", severity="warning")
            return None
        return job_id, state

    def action_submit(self) -> None:
        async def submit(path: str | None) -> None:
            if not path or self.client is None:
                return
            book = Path(path).expanduser()

            async def send(client: PipelineClient) -> str:
                await client.submit(book)
                return f"submitted {book.name}: it appears here once the parse service accepts it"

            await self._act(send(self.client))

        self.push_screen(Submit(), submit)

    def action_resume(self) -> None:
        """Ask for the chosen job again (``audiobook resume``): failed and missing segments are queued."""
        chosen = self.chosen_job()
        if chosen is None or self.client is None:
            return
        (job_id, state), client = chosen, self.client

        async def resume() -> str:
            _, submission = await client.resume(job_id)
            if not submission.sent:
                return f"{state.title or job_id} is already complete: nothing to resume"
            return f"asked to resume {state.title or job_id}: failed and missing segments are queued again"

        self.act(resume())

    def action_cancel(self) -> None:
        chosen = self.chosen_job()
        if chosen is None:
            return
        job_id, state = chosen
        try:
            check_cancel(state)  # before asking; the client checks the log again
        except ClientError as exc:
            self.notify(str(exc), severity="warning")
            return

        async def cancel(yes: bool | None) -> None:
            if yes and self.client is not None:
                client = self.client

                async def stop() -> str:
                    dropped = await client.cancel(job_id, "cancelled from the dashboard")
                    return f"cancelled {job_id}: {dropped_words(dropped)} dropped"

                await self._act(stop())

        self.push_screen(Confirm(f"Cancel {state.title or job_id}?"), cancel)

    def action_pause_job(self) -> None:
        """Pause the chosen job (its queued segments set aside), or unpause it when it is paused."""
        chosen = self.chosen_job()
        if chosen is None or self.client is None:
            return
        (job_id, state), client = chosen, self.client
        name = state.title or job_id

        async def unpause() -> str:
            await client.unpause_job(job_id)
            return f"{name} continues: what is not done is queued again"

        async def pause() -> str:
            dropped = await client.pause_job(job_id, "paused from the dashboard")
            return f"paused {name}: {dropped_words(dropped)} set aside; p continues it"

        self.act(unpause() if state.status == PAUSED else pause())

    def action_pause_all(self) -> None:
        if self.client is None:
            return
        client, paused = self.client, self.paused
        if paused:
            self.paused = []

            async def unpause() -> str:
                await client.unpause_engines()
                return f"synthesis continues ({', '.join(paused)})"

            self.act(unpause())
            return

        async def pause() -> str:
            await client.pause_engines()
            return "synthesis paused: workers finish what they hold; P again continues"

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self._act(pause())

        self.push_screen(Confirm("Pause all synthesis? Queued segments wait; nothing is lost."), confirmed)

    def action_drain(self) -> None:
        table = self.query_one("#worker-table", DataTable)
        if self.query_one(TabbedContent).active != "workers" or not table.row_count:
            self.notify("choose a tts worker on the Workers tab first", severity="warning")
            return
        instance = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        status = self.instances[instance][1]
        if not is_tts(status):
            self.notify("only tts workers drain", severity="warning")
            return

        async def drain(yes: bool | None) -> None:
            if yes and self.client is not None:
                client = self.client

                async def ask() -> str:
                    answers = await client.drain(instance)
                    return f"{status.get('name')}: {answers[0].get('state')}"

                await self._act(ask())

        self.push_screen(Confirm(f"Drain {status.get('name')}? It finishes its segments and exits."), drain)
