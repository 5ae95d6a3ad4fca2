"""How the fleet is shared among running jobs: each job's release window (pure).

Parse queues only a window of each job's synthesis commands and releases more as its segments
land (services.parse.release); jobs running together share the fleet in proportion to their
windows. The window is weighed by the job's priority and split among its user's running jobs,
so the fleet is shared by user, not by book. The dashboard shows each job's share from the same
functions (:func:`fleet_shares`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from events.names import owner_of

MIN_WINDOW = 16  # a job's commands in the queue at least (a fleet's first round while it is idle)
MAX_WINDOW = 2048
WINDOW_ROUNDS = 2  # a job's window: this many rounds of the whole fleet, past MIN_WINDOW


PRIORITY_WEIGHTS = {"background": 0.25, "normal": 1.0, "urgent": 4.0}  # a job's rounds of the fleet, times


def release_window(fleet_slots: int, setting: int = 0, priority: str = "", share: tuple[int, int] = (0, 1)) -> int:
    """How many of one job's commands may wait in the work queue (or be in a worker's hands) at once.

    ``fleet_slots``: what the engine's workers hold or ask for now (the consumer's messages
    pending acknowledgement plus its waiting pull requests). Two rounds of the fleet keep it
    busy on one job alone, and bound how long a job that comes later waits behind it: its own
    commands enter the queue at once, ahead of everything the first job releases after that.
    Jobs running together share the fleet in proportion to their windows: ``priority``
    ("urgent", "background"; "" is "normal") weighs the rounds (:data:`PRIORITY_WEIGHTS`).

    The window is a user's, not a book's: ``share`` is (this job's rank, how many jobs its user
    has running, :func:`owners_share`), and the user's jobs split it, the oldest first where it
    does not divide (a job may get none until another ends). So a user with fifty books queued
    has as many commands waiting as a user with one, and each user's book waits about one round.
    """
    if setting > 0:  # AUDIOBOOK_RELEASE_WINDOW: the admin's own (a large one: first come, first served)
        return setting
    rounds = WINDOW_ROUNDS * PRIORITY_WEIGHTS.get(priority or "normal", 1.0)
    window = max(MIN_WINDOW, min(MAX_WINDOW, MIN_WINDOW + round(rounds * fleet_slots)))
    rank, jobs = share
    return window // jobs + int(rank < window % jobs)


def owners_share(job_id: str, running: Iterable[str]) -> tuple[int, int]:
    """(rank, count) of ``job_id`` among the running jobs of its owner (``running``, oldest first;
    the shared client's jobs are one owner's), for :func:`release_window` (pure)."""
    owner = owner_of(job_id)
    mine = [job for job in running if owner_of(job) == owner]
    if job_id not in mine:
        mine.append(job_id)
    return mine.index(job_id), len(mine)


def fleet_shares(running: Sequence[tuple[str, str]], fleet_slots: int) -> dict[str, float]:
    """Each running job's share of its engine's fleet now, 0 to 1 (``running``: (job id, priority) of
    one engine's running jobs, oldest first): its window over the sum of their windows. A job with
    none waits for its user's earlier jobs (pure)."""
    order = [job for job, _ in running]
    windows = {job: release_window(fleet_slots, 0, priority, owners_share(job, order)) for job, priority in running}
    total = sum(windows.values())
    return {job: window / total if total else 0.0 for job, window in windows.items()}
