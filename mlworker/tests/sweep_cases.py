"""The recovery sweep's cases: what the database and Redis hold before a sweep, and what
they hold after (test_recovery.py runs each and lists them in docs/RELIABILITY.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SweepCase:
    id: str
    what: str
    status: str  # the prediction's, in the database
    attempts: int
    job: str | None  # the job's state in Redis; None: Redis has no such job
    expect_status: str
    expect_error: str
    expect_job: str | None  # what is in Redis afterwards
    age_seconds: int = 3600
    deadline_seconds: float = 0  # PREDICTION_DEADLINE_SECONDS (0: no deadline)

    @property
    def result(self) -> str:
        job = f"; job {self.expect_job}" if self.expect_job else ""
        error = f' "{self.expect_error}"' if self.expect_error else ""
        return f"prediction {self.expect_status}{error}{job}"


SWEEP_CASES = [
    SweepCase(
        "sweep-job-lost",
        "queued prediction whose job Redis lost (restart without persistence)",
        "queued", 0, None,
        "queued", "Retrying: its job was lost.", "queued, 3 attempts",
    ),
    SweepCase(
        "sweep-running-job-lost",
        "running prediction (attempt 1 of 3) whose job Redis lost",
        "running", 1, None,
        "queued", "Retrying: its job was lost.", "queued, 2 attempts",
    ),
    SweepCase(
        "sweep-job-lost-no-attempts-left",
        "running prediction on its last attempt whose job Redis lost",
        "running", 3, None,
        "failed", "failed after repeated attempts (its job was lost)", None,
    ),
    SweepCase(
        "sweep-job-failed-unrecorded",
        "job failed in RQ but the prediction was never told (database down during the "
        "callback, or RQ's intermediate-queue cleanup, which runs no callback)",
        "queued", 1, "failed",
        "queued", "Retrying: its last attempt was not recorded.",
        "queued, 2 attempts (out of the failed registry)",
    ),
    SweepCase(
        "sweep-job-cancelled",
        "job cancelled by an operator in the queue dashboard",
        "queued", 0, "canceled",
        "failed", "cancelled by an operator", None,
    ),
    SweepCase(
        "sweep-job-live",
        "queued prediction whose job is still queued",
        "queued", 0, "queued",
        "queued", "", "queued (untouched)",
    ),
    SweepCase(
        "sweep-too-young",
        "prediction written a moment ago whose job is not there yet",
        "queued", 0, None,
        "queued", "", None, age_seconds=1,
    ),
    SweepCase(
        "sweep-expired-in-queue",
        "queued prediction uploaded an hour ago, its job still queued (a backlog after an "
        "outage); PREDICTION_DEADLINE_SECONDS=600",
        "queued", 0, "queued",
        "failed", "Expired: it waited in the queue longer than 600 seconds",
        None, deadline_seconds=600,
    ),
    SweepCase(
        "sweep-expired-job-lost",
        "queued prediction uploaded an hour ago whose job Redis lost; "
        "PREDICTION_DEADLINE_SECONDS=600",
        "queued", 0, None,
        "failed", "Expired: it waited in the queue longer than 600 seconds", None,
        deadline_seconds=600,
    ),
    SweepCase(
        "sweep-expired-but-running",
        "running prediction uploaded an hour ago whose job a worker has started; "
        "PREDICTION_DEADLINE_SECONDS=600",
        "running", 1, "started",
        "running", "", None, deadline_seconds=600,
    ),
]  # fmt: skip
