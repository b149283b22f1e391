"""A batch in the batched worker's hands, and what the worker does around one.

`PreparedBatch`: jobs started in RQ, their predictions marked running and images decoded.
Also: which jobs are batch jobs, the warm-up before the first job, what a batch adds to the
Prometheus metrics, and reading those back (forward passes, images, seconds) for tests and
load tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connections
from redis import Redis
from redis.client import Pipeline
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.utils import import_attribute, now

from mlworker.inference import BatchOutcome, PreparedInputs
from mlworker.jobs import BatchJob
from mlworker.models.base import ImageClassifier
from monitoring import metrics


@dataclass
class PreparedBatch:
    """Jobs started in RQ, their predictions marked running and images decoded."""

    #: what the jobs name (`mlworker.jobs.classify_prediction`); None: no such job in hand
    kind: BatchJob | None
    jobs: list[tuple[Job, Queue]]
    executions: dict[str, Execution]
    #: the model (registry version) every job of this batch runs on
    model: ImageClassifier
    #: jobs on the queue that are not classifications; run one by one, the RQ way
    other_jobs: list[tuple[Job, Queue]] = field(default_factory=list)
    work: PreparedInputs | None = None
    #: sys.exc_info() of a failure while preparing or running; every job fails with it
    error: tuple | None = None
    #: seconds each job waited in the queue before this worker took it
    queue_waits: list[float] = field(default_factory=list)
    #: wall time spent preparing (registries, database, decoding)
    prepare_seconds: float = 0.0

    def merge(self, other: PreparedBatch) -> PreparedBatch:
        """One batch from two parts prepared one after the other."""
        merged = PreparedBatch(
            model=self.model,
            kind=self.kind or other.kind,
            jobs=self.jobs + other.jobs,
            executions={**self.executions, **other.executions},
            other_jobs=self.other_jobs + other.other_jobs,
            error=self.error or other.error,  # a failed part fails the (rare) merged batch
            queue_waits=self.queue_waits + other.queue_waits,
            prepare_seconds=self.prepare_seconds + other.prepare_seconds,
        )
        parts = [part.work for part in (self, other) if part.work is not None]
        if parts:
            outcome = parts[0].outcome
            inputs = dict(parts[0].inputs)
            for part in parts[1:]:
                outcome.failures.update(part.outcome.failures)
                outcome.skipped += part.outcome.skipped
                inputs.update(part.inputs)
            merged.work = PreparedInputs(outcome=outcome, inputs=inputs)
        return merged


def warm_up(model: ImageClassifier, batch_sizes: list[int]) -> None:
    """Run the model once per batch size before taking jobs, so the first uploads do not pay
    for graph tracing and kernel set-up (seconds, on the first call)."""
    warmed: set[int] = getattr(model, "_warmed_batch_sizes", set())
    height, width = model.input_size
    for size in batch_sizes:
        if size not in warmed:
            model.predict_batch(np.zeros((size, height, width, 3), dtype=np.float32))
            warmed.add(size)
    model._warmed_batch_sizes = warmed  # type: ignore[attr-defined]  # a mark on the instance


def queue_waits(jobs: list[Job]) -> list[float]:
    """Seconds from each job's enqueueing (RQ's clock, UTC) to now."""
    taken = now()
    return [
        max((taken - job.enqueued_at).total_seconds(), 0.0)
        for job in jobs
        if job.enqueued_at is not None
    ]


def drop_broken_database_connections() -> None:
    """Django's between-requests cleanup, between batches: a database restart costs one batch.

    Connections inside a transaction (a test's) are left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def batch_job(job: Job) -> BatchJob | None:
    """The `BatchJob` a job names, or None for any other job (run the RQ way)."""
    if job.func_name is None:
        return None
    try:
        named = import_attribute(job.func_name)
    except (ImportError, AttributeError, ValueError):
        return None
    return named if isinstance(named, BatchJob) else None


def read_model_counters(connection: Redis) -> dict[str, float]:
    """Forward passes, images and seconds in forward passes so far, all workers and models
    together, from the Prometheus metrics the workers add to in Redis (`monitoring.shared`)."""
    totals = {"forward_passes": 0.0, "images": 0.0, "forward_seconds": 0.0}
    pipeline = connection.pipeline(transaction=False)
    for metric in (metrics.FORWARD_SECONDS, metrics.IMAGES_CLASSIFIED):
        pipeline.hgetall(metric.key)
    forward, images = pipeline.execute()
    for sample in metrics.FORWARD_SECONDS.family(forward).samples:
        if sample.name.endswith("_count"):
            totals["forward_passes"] += sample.value
        elif sample.name.endswith("_sum"):
            totals["forward_seconds"] += sample.value
    for sample in metrics.IMAGES_CLASSIFIED.family(images).samples:
        totals["images"] += sample.value
    return totals


def record_metrics(
    pipeline: Pipeline, outcome: BatchOutcome, queue_waits: list[float], *, model: str
) -> None:
    """The Prometheus metrics of one batch, added up in Redis with every other worker's
    (`monitoring.shared`), queued on `pipeline`."""
    metrics.QUEUE_WAIT_SECONDS.observe_many(pipeline, queue_waits, model=model)
    if outcome.forward_passes:
        metrics.BATCH_SIZE.observe(pipeline, len(outcome.results), model=model)
        metrics.FORWARD_SECONDS.observe(pipeline, outcome.forward_seconds, model=model)
        metrics.IMAGES_CLASSIFIED.inc(pipeline, len(outcome.results), model=model)
