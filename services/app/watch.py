"""``audiobook convert BOOK --dashboard``: the dashboard in place of the progress bar, following one job.

The dashboard shows the whole stack as always (it reads the bus, nothing else); this subclass
also follows the submitted job to its end with the client (``PipelineClient.follow``), fetches
the finished book and says so, and opens on that job's chapters. The book's warnings are
notices.
"""

from __future__ import annotations

from pathlib import Path

from nats.aio.client import Client

from events.projection import JobStatus
from services.client import Outcome, PipelineClient, Submission, Update, Warned
from tui.app import Dashboard


class ConversionDashboard(Dashboard):
    """The dashboard, plus one job followed to its end (``outcome``: None while it runs)."""

    def __init__(self, operator: PipelineClient, submission: Submission, output: Path, tick: float = 1.0) -> None:
        async def same() -> Client:
            return operator.nc

        super().__init__(same, tick=tick, title=f"converting to {output}", focus=submission.job_id)
        self.operator, self.submission, self.output = operator, submission, output
        self.outcome: Outcome | None = None

    def on_mount(self) -> None:  # Textual runs the dashboard's own on_mount too (every class's handler)
        self.run_worker(self.follow_conversion(), group="conversion")

    def show_update(self, update: Update) -> None:
        if isinstance(update, Warned):
            self.notify(f"warning: {update.text}", severity="warning", timeout=15)

    async def follow_conversion(self) -> None:
        outcome = await self.operator.follow(self.submission, self.output, self.show_update)
        self.outcome = outcome
        if outcome.state.status == JobStatus.COMPLETED:
            self.sub_title = f"done: {self.output}"
            self.notify(f"{self.output} is written; q closes the dashboard", timeout=30)
        else:
            self.sub_title = f"{outcome.state.status}: {outcome.state.reason}"
            self.notify(f"the job ended {outcome.state.status}: {outcome.state.reason}", severity="error", timeout=30)
