"""``audiobook convert BOOK --dashboard``: the dashboard in place of the progress bar, following one job.

The dashboard shows the whole stack as always (it reads the bus, nothing else); this subclass
also follows the submitted job to its end, fetches the finished book and says so, and opens
on that job's chapters.
"""

from __future__ import annotations

from pathlib import Path

from nats.aio.client import Client

from events.projection import JobStatus
from services.app.follow import Outcome, follow_job
from tui.app import Dashboard


class ConversionDashboard(Dashboard):
    """The dashboard, plus one job followed to its end (``outcome``: None while it runs)."""

    def __init__(self, nc: Client, job_id: str, request_ref: str, since_seq: int, output: Path,
                 tick: float = 1.0) -> None:
        async def same() -> Client:
            return nc

        super().__init__(same, tick=tick, title=f"converting to {output}", focus=job_id)
        self.job_id, self.request_ref, self.since_seq, self.output = job_id, request_ref, since_seq, output
        self.outcome: Outcome | None = None

    def on_mount(self) -> None:  # Textual runs the dashboard's own on_mount too (every class's handler)
        self.run_worker(self.follow_conversion(), group="conversion")

    async def follow_conversion(self) -> None:
        nc = await self.connect()
        outcome = await follow_job(nc.jetstream(), self.job_id, self.request_ref, self.since_seq, self.output, None)
        self.outcome = outcome
        if outcome.state.status == JobStatus.COMPLETED:
            self.sub_title = f"done: {self.output}"
            self.notify(f"{self.output} is written; q closes the dashboard", timeout=30)
        else:
            self.sub_title = f"{outcome.state.status}: {outcome.state.reason}"
            self.notify(f"the job ended {outcome.state.status}: {outcome.state.reason}", severity="error", timeout=30)
