"""The terminal's view of a followed job: the client's updates drawn on a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

from services.app.progress import ProgressBar
from services.client import Assembling, Outcome, PipelineClient, Progress, Submission, Update, Warned
from services.client.follow import OnUpdate


def shown_on(progress: ProgressBar | None) -> OnUpdate:
    """Draw updates on ``progress``; with none (quiet), only warnings, on stderr."""
    def show(update: Update) -> None:
        if isinstance(update, Warned):
            if progress:
                progress.note(f"warning: {update.text}")
            else:
                print(f"warning: {update.text}", file=sys.stderr)
        elif progress is None:
            return
        elif isinstance(update, Progress):
            if update.baseline:
                progress.baseline(update.done)
            progress.update(update.done, update.total, update.audio_seconds, label=update.title[:30],
                            force=update.final)
        elif isinstance(update, Assembling):
            progress.note(f"all {update.total} segments done; building the audiobook")
    return show


async def follow_with_bar(client: PipelineClient, submission: Submission, output: Path, quiet: bool) -> Outcome:
    """Follow a submitted job to its end with a progress bar (none when ``quiet``)."""
    progress = None if quiet else ProgressBar()
    try:
        return await client.follow(submission, output, shown_on(progress))
    finally:
        if progress:
            progress.close()
