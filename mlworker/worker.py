"""An RQ worker that runs classification jobs in batches, one forward pass per batch.

It is an ordinary RQ worker to everything around it: it registers itself, heartbeats,
moves each job through RQ's started/finished/failed registries and writes each job's
result to RQ's result stream (which is what wakes the web request waiting for it), so
the django-rq dashboard shows it like any other worker. Only the middle differs: it
dequeues up to `batch_size` jobs, prepares them all, runs the model once, then
finishes each job.

Signals follow RQ: the first SIGTERM/SIGINT finishes the batch in hand and exits,
a second one stops at once.

Outages do not stop it: while Redis is unreachable it keeps retrying (and registers
again if Redis came back empty), a database restart costs at most the batch in hand,
and its maintenance re-queues predictions whose jobs Redis lost (`mlworker.recovery`).
"""

from __future__ import annotations

import sys
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass

from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from classifier.queueing import CLASSIFY_JOB
from mlworker.inference import classify_predictions
from mlworker.models.base import ImageClassifier
from mlworker.recovery import sweep_lost_predictions

STATS_KEY = "mlworker:stats"
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


@dataclass
class BatchSettings:
    batch_size: int = 16
    max_wait_ms: float = 10.0
    #: how long a started job may go without its worker before others retry it
    job_lease_seconds: int = 60


class BatchWorker(SimpleWorker):
    #: longest pause between reconnection attempts while Redis is down (RQ's default: 60 s)
    max_connection_wait_time = 5.0

    def __init__(self, queues, *, model: ImageClassifier, batching: BatchSettings, **kwargs):
        super().__init__(queues, **kwargs)
        self.model = model
        self.batching = batching
        self.batches_done = 0

    # --- timing -------------------------------------------------------------------------
    @property
    def dequeue_timeout(self) -> int:
        # Wake up often enough to heartbeat well inside worker_ttl.
        return max(1, self.worker_ttl // 2)

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        super().heartbeat(timeout or self.worker_ttl * 2, pipeline=pipeline)
        if pipeline is None and not self.connection.hexists(self.key, "birth"):
            self.log.warning("Worker %s: Redis lost its registration; registering again", self.name)
            self.connection.delete(self.key)
            self.register_birth()

    def get_heartbeat_ttl(self, job: Job) -> int:
        return self.batching.job_lease_seconds

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for queue in self.queues:
            sweep_lost_predictions(queue, grace_seconds=self.batching.job_lease_seconds)

    # --- the loop ---------------------------------------------------------------------------
    def work(
        self, burst: bool = False, logging_level: str = "INFO", max_batches: int | None = None
    ):
        """Dequeue → prepare → perform (one forward pass) → finish each job, until stopped."""
        self.bootstrap(logging_level)
        self._install_signal_handlers()
        try:
            while not self._stop_requested:
                try:
                    if self.should_run_maintenance_tasks:
                        self.run_maintenance_tasks()
                    batch = self.dequeue_batch(burst=burst)
                    if not batch:
                        if burst:
                            break
                        continue
                    drop_broken_database_connections()
                    self.execute_batch(batch)
                except REDIS_DOWN as error:
                    # Jobs in hand stay in the StartedJobRegistry and are retried after their lease.
                    self.log.error("Worker %s: Redis unavailable (%s); retrying", self.name, error)
                    time.sleep(1)
                    continue
                self.batches_done += 1
                if max_batches is not None and self.batches_done >= max_batches:
                    break
        except StopRequested:
            pass
        finally:
            with suppress(*REDIS_DOWN):  # stopping during an outage is still a clean exit
                self.teardown()
        return self.batches_done

    def dequeue_batch(self, *, burst: bool) -> list[tuple[Job, Queue]]:
        """Block for the first job, then take what is waiting, up to the batch size."""
        first = self.dequeue_job_and_maintain_ttl(None if burst else self.dequeue_timeout)
        if first is None:
            return []
        self.set_state(WorkerStatus.BUSY)  # from here a first SIGTERM lets the batch finish
        batch = [first]
        deadline = time.monotonic() + self.batching.max_wait_ms / 1000
        while len(batch) < self.batching.batch_size:
            remaining = deadline - time.monotonic()
            job_and_queue = self._take_waiting_job(block_seconds=remaining)
            if job_and_queue is None:
                break
            batch.append(job_and_queue)
        return batch

    def _take_waiting_job(self, *, block_seconds: float) -> tuple[Job, Queue] | None:
        """Another job if one is queued now, or arrives within `block_seconds`."""
        job_and_queue = self.queue_class.dequeue_any(
            self._ordered_queues, None, connection=self.connection, job_class=self.job_class
        )
        if job_and_queue is not None or block_seconds <= 0:
            return job_and_queue
        queue = self._ordered_queues[0]
        # BLMOVE accepts fractional seconds; RQ's own helper only takes whole ones.
        job_id = self.connection.blmove(queue.key, queue.intermediate_queue_key, block_seconds)
        if job_id is None:
            return None
        try:
            return self.job_class.fetch(job_id.decode(), connection=self.connection), queue
        except Exception:
            return self._take_waiting_job(block_seconds=0)

    def execute_batch(self, batch: list[tuple[Job, Queue]]) -> None:
        classify = [(job, queue) for job, queue in batch if job.func_name == CLASSIFY_JOB]
        for job, queue in batch:
            if job.func_name != CLASSIFY_JOB:
                self.execute_job(job, queue)  # anything else on the queue runs the RQ way
        if not classify:
            return
        executions = {job.id: self._prepare(job) for job, _ in classify}
        try:
            outcome = classify_predictions(self.model, [job.args[0] for job, _ in classify])
        except Exception:
            exc_info = sys.exc_info()
            for job, queue in classify:
                self.execution = executions[job.id]
                self._finish_failed(job, queue, exc_info=exc_info)
        else:
            self._record_stats(images=len(outcome.results), outcome=outcome)
            for job, queue in classify:
                self.execution = executions[job.id]
                message = outcome.failures.get(job.args[0])
                if message is None:
                    self._finish_done(job, queue)
                else:
                    job.retries_left = 0  # a broken image stays broken
                    self._finish_failed(job, queue, message=message)
        finally:
            self.execution = None
            self.set_state(WorkerStatus.IDLE)

    # --- per-job bookkeeping, all through RQ's own worker methods -------------------------
    def _prepare(self, job: Job):
        execution = self.prepare_execution(job)
        self.prepare_job_execution(job, remove_from_intermediate_queue=True)
        job.started_at = now()
        return execution

    def _finish_done(self, job: Job, queue: Queue) -> None:
        job.ended_at = now()
        job._result = {"prediction": job.args[0]}
        job._status = JobStatus.FINISHED
        self.handle_job_success(
            job=job, queue=queue, started_job_registry=queue.started_job_registry
        )

    def _finish_failed(self, job: Job, queue: Queue, *, message: str = "", exc_info=None) -> None:
        job.ended_at = now()
        job._status = JobStatus.FAILED
        if exc_info is not None:
            job.execute_failure_callback(self.death_penalty_class, *exc_info)
            message = "".join(traceback.format_exception(*exc_info))
        self.handle_job_failure(
            job=job,
            queue=queue,
            started_job_registry=queue.started_job_registry,
            exc_string=message,
        )

    def _record_stats(self, *, images: int, outcome) -> None:
        with self.connection.pipeline() as pipeline:
            pipeline.hincrby(STATS_KEY, "forward_passes", outcome.forward_passes)
            pipeline.hincrby(STATS_KEY, "images", images)
            pipeline.hincrbyfloat(STATS_KEY, "forward_seconds", outcome.forward_seconds)
            pipeline.execute()


def drop_broken_database_connections() -> None:
    """Django's between-requests cleanup, between batches: a database restart costs one batch.

    Connections inside a transaction (a test's) are left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def read_stats(connection) -> dict[str, float]:
    raw = connection.hgetall(STATS_KEY)
    return {key.decode(): float(value) for key, value in raw.items()}
