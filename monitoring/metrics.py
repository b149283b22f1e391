"""Every metric the system exports, in one place (docs/METRICS.md lists them).

Two kinds:
- web-side metrics are ordinary `prometheus_client` metrics, counted in the gunicorn
  process that served the request. With several gunicorn processes they run in
  prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`), so `/metrics`
  sums every process, whichever one answers the scrape;
- worker-side metrics are `monitoring.shared` metrics, added up in Redis by every worker
  on every host, and read back by the web's `/metrics`.
Queue depth and live workers are read from Redis when Prometheus scrapes
(`monitoring.collectors`).

This module imports nothing heavy: the web, the workers and the tests all import it.
"""

from __future__ import annotations

from prometheus_client import Counter

from monitoring.shared import SharedCounter, SharedHistogram

PREFIX = "imageclassifier_"

# --- web side ---------------------------------------------------------------------------------
UPLOADS = Counter(
    f"{PREFIX}uploads",  # exported as imageclassifier_uploads_total
    "Uploads by outcome: cached (answered from an earlier identical upload), queued, or "
    "rejected (with the reason).",
    ["outcome", "reason"],
)


class Outcome:
    CACHED = "cached"
    QUEUED = "queued"
    REJECTED = "rejected"


class RejectReason:
    QUEUE_FULL = "queue_full"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    INVALID_IMAGE = "invalid_image"
    QUOTA_EXCEEDED = "quota_exceeded"


def count_upload(outcome: str, reason: str = "") -> None:
    UPLOADS.labels(outcome=outcome, reason=reason).inc()


# --- worker side (shared through Redis) -------------------------------------------------------
BATCH_SIZE = SharedHistogram(
    f"{PREFIX}batch_size",
    "Images per forward pass.",
    ["model"],
    buckets=[1, 2, 4, 8, 12, 16, 24, 32, 64],
)
FORWARD_SECONDS = SharedHistogram(
    f"{PREFIX}forward_seconds",
    "Duration of one forward pass (one batch) through the model.",
    ["model"],
    buckets=[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
)
QUEUE_WAIT_SECONDS = SharedHistogram(
    f"{PREFIX}queue_wait_seconds",
    "Time a job spent in the queue, from enqueued to taken by a worker.",
    ["model"],
    buckets=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
)
IMAGES_CLASSIFIED = SharedCounter(
    f"{PREFIX}images_classified_total",
    "Images that went through the model (rate() of this is images per second).",
    ["model"],
)
PREDICTIONS_FAILED = SharedCounter(
    f"{PREFIX}predictions_failed_total",
    "Predictions marked failed, by reason.",
    ["reason"],
)

SHARED_METRICS = [
    BATCH_SIZE,
    FORWARD_SECONDS,
    QUEUE_WAIT_SECONDS,
    IMAGES_CLASSIFIED,
    PREDICTIONS_FAILED,
]


class FailureReason:
    """Values of `predictions_failed_total{reason=...}`."""

    EXPIRED = "expired"  # waited in the queue past PREDICTION_DEADLINE_SECONDS
    BAD_IMAGE = "bad_image"  # the stored image cannot be decoded
    WORKER_LOST = "worker_lost"  # its worker stopped on every attempt
    ERROR = "error"  # an internal error on every attempt
    JOB_LOST = "job_lost"  # Redis lost the job and no attempts were left
    CANCELLED = "cancelled"  # an operator cancelled the job


def count_failures(connection, reason: str, count: int = 1) -> None:
    if count:
        PREDICTIONS_FAILED.inc(connection, count, reason=reason)
