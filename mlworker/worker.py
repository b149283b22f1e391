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
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field

import numpy as np
from django.db import connection as db_connection
from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from classifier import queueing
from classifier.catalog import CLASSIFY_JOB
from mlworker.inference import (
    BatchOutcome,
    PreparedInputs,
    prepare_inputs,
    record_outcome,
    run_forward,
)
from mlworker.models.base import ImageClassifier
from mlworker.recovery import sweep_lost_predictions
from monitoring import metrics

STATS_KEY = "mlworker:stats"
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
#: how often an idle worker looks for more jobs while it waits up to max_wait_ms
WAIT_POLL_SECONDS = 0.002
#: how often the helper looks for late jobs while a partial batch is in the model
PREFETCH_POLL_SECONDS = 0.025


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
        self._last_batch_size = 0

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
        """Dequeue → prepare → perform (one forward pass) → finish each job, until stopped.

        While a batch is in the model, a helper thread takes the jobs waiting behind it and
        prepares them (registries, database, image decoding), so under load the model
        goes from one batch to the next without waiting on that work.
        """
        warm_up(self.model, sorted({1, self.batching.batch_size}))
        self.bootstrap(logging_level)
        self._install_signal_handlers()
        leases = self.keep_leases()
        # The helper has its own database connection; inside an open transaction (a test's)
        # it could not see this one's rows, so batches then run one at a time.
        prefetcher = (
            None
            if db_connection.in_atomic_block
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-prefetch")
        )
        in_hand: PreparedBatch | None = None
        try:
            while in_hand is not None or not self._stop_requested:
                try:
                    if self.should_run_maintenance_tasks:
                        self.run_maintenance_tasks()
                    if in_hand is None:
                        batch = self.dequeue_batch(burst=burst)
                        if not batch:
                            if burst:
                                break
                            continue
                        drop_broken_database_connections()
                        in_hand = self.prepare_batch(batch)
                    in_hand = self.execute_batch(in_hand, prefetcher=prefetcher)
                except REDIS_DOWN as error:
                    # Jobs in hand stay in the StartedJobRegistry and are retried after their lease.
                    self.log.error("Worker %s: Redis unavailable (%s); retrying", self.name, error)
                    in_hand = None
                    time.sleep(1)
                    continue
                self.batches_done += 1
                if max_batches is not None and self.batches_done >= max_batches:
                    if in_hand is not None:  # already started: finish it rather than strand it
                        self.execute_batch(in_hand, prefetcher=None)
                    break
        except StopRequested:
            pass
        finally:
            if prefetcher is not None:
                prefetcher.shutdown(wait=True)
            leases.set()
            with suppress(*REDIS_DOWN):  # stopping during an outage is still a clean exit
                self.teardown()
        return self.batches_done

    def keep_leases(self) -> threading.Event:
        """Renew the leases of the jobs this worker has started, until the returned event.

        So JOB_LEASE_SECONDS is how long a job outlives its worker, not a limit on how long
        it may wait and run here: a slow batch, or one prepared behind it, is never taken
        for abandoned by another worker's maintenance and run twice.
        """
        stop = threading.Event()
        lease = self.batching.job_lease_seconds

        def renew():
            while not stop.wait(max(lease / 3, 0.5)):
                with suppress(*REDIS_DOWN):
                    self.renew_leases(lease)

        threading.Thread(target=renew, name=f"{self.name}-leases", daemon=True).start()
        return stop

    def renew_leases(self, lease: int) -> None:
        for queue in self.queues:
            registry = queue.started_job_registry
            started = [
                Execution(id=execution_id, job_id=job_id, connection=self.connection)
                for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False)
            ]
            if not started:
                continue
            with self.connection.pipeline() as pipeline:
                for execution in started:
                    pipeline.hget(execution.key, "worker_name")
                owners = pipeline.execute()
            mine = [
                e for e, owner in zip(started, owners, strict=True) if owner == self.name.encode()
            ]
            if not mine:
                continue
            expires = time.time() + lease  # not RQ's whole-second clock: that can cut a lease short
            with self.connection.pipeline() as pipeline:
                for execution in mine:  # XX: a job finished meanwhile is not put back
                    pipeline.zadd(registry.key, {execution.composite_key: expires}, xx=True)
                    pipeline.expire(execution.key, lease)
                pipeline.expire(self.key, lease + self.worker_ttl)
                pipeline.execute()

    def dequeue_batch(self, *, burst: bool) -> list[tuple[Job, Queue]]:
        """Block for the first job, take what is waiting, then maybe wait for company.

        The wait (up to max_wait_ms) is skipped when this job came alone and so did the
        previous batch: a lone user gains nothing from it, it only adds latency. Under
        load batches form without waiting (jobs queue up during each forward pass).
        """
        first = self.dequeue_job_and_maintain_ttl(None if burst else self.dequeue_timeout)
        if first is None:
            return []
        self.set_state(WorkerStatus.BUSY)  # from here a first SIGTERM lets the batch finish
        batch = [first, *self._take_waiting_jobs(self.batching.batch_size - 1)]
        if len(batch) == 1 and self._last_batch_size <= 1:
            return batch
        deadline = time.monotonic() + self.batching.max_wait_ms / 1000
        while len(batch) < self.batching.batch_size and time.monotonic() < deadline:
            time.sleep(min(WAIT_POLL_SECONDS, max(deadline - time.monotonic(), 0)))
            batch += self._take_waiting_jobs(self.batching.batch_size - len(batch))
        return batch

    def _take_waiting_jobs(self, limit: int) -> list[tuple[Job, Queue]]:
        """Up to `limit` jobs that are queued right now (never blocks).

        Waiting is done by polling, not BLMOVE: Redis checks blocking timeouts only
        `hz` (10) times a second, so a 10 ms BLMOVE could block for up to 100 ms.
        """
        taken = []
        while len(taken) < limit:
            job_and_queue = self.queue_class.dequeue_any(
                self._ordered_queues, None, connection=self.connection, job_class=self.job_class
            )
            if job_and_queue is None:
                break
            taken.append(job_and_queue)
        return taken

    def prepare_batch(self, batch: list[tuple[Job, Queue]]) -> PreparedBatch:
        """Start the batch's classification jobs (one Redis transaction), mark their
        predictions running and decode their images. Other jobs are set aside for
        `execute_batch`, which runs them the RQ way."""
        classify = [(job, queue) for job, queue in batch if job.func_name == CLASSIFY_JOB]
        others = [(job, queue) for job, queue in batch if job.func_name != CLASSIFY_JOB]
        if not classify:
            return PreparedBatch(jobs=[], executions={}, other_jobs=others)
        started = time.monotonic()
        executions = self._start_jobs(classify)
        waits = queue_waits([job for job, _ in classify])
        try:
            work = prepare_inputs(self.model, [job.args[0] for job, _ in classify])
        except Exception:
            return PreparedBatch(
                jobs=classify, executions=executions, other_jobs=others, error=sys.exc_info()
            )
        return PreparedBatch(
            jobs=classify,
            executions=executions,
            other_jobs=others,
            work=work,
            queue_waits=waits,
            prepare_seconds=time.monotonic() - started,
        )

    def execute_batch(
        self, batch: PreparedBatch, *, prefetcher: ThreadPoolExecutor | None
    ) -> PreparedBatch | None:
        """Run the batch through the model and finish its jobs; return the next batch if one
        was prepared meanwhile."""
        for job, queue in batch.other_jobs:
            self.execute_job(job, queue)  # anything else on the queue runs the RQ way
        started = time.monotonic()
        forward_done = threading.Event()
        upcoming = None
        if prefetcher is not None and batch.work is not None and not self._stop_requested:
            upcoming = prefetcher.submit(self._prefetch_batch, forward_done)
        try:
            outcome = None
            if batch.error is None and batch.work is not None:
                try:
                    outcome = run_forward(self.model, batch.work)
                except Exception:
                    batch.error = sys.exc_info()
            forward_done.set()
            if outcome is not None:
                try:
                    record_outcome(outcome, model_name=self.model.name)
                except Exception:
                    batch.error = sys.exc_info()
            self._finish_batch(batch, outcome)
            self._record_pace(batch, time.monotonic() - started)
        finally:
            forward_done.set()
            following = upcoming.result() if upcoming is not None else None
            self._last_batch_size = len(batch.jobs)
            if following is None:
                self.set_state(WorkerStatus.IDLE)
        return following

    def _prefetch_batch(self, forward_done: threading.Event) -> PreparedBatch | None:
        """In the helper thread: take the jobs queued behind the batch in the model (and those
        arriving before its forward pass ends), start them and decode their images."""
        drop_broken_database_connections()  # this thread's own connection
        limit = self.batching.batch_size
        taken = self._take_waiting_jobs(limit)
        if not taken:
            # Nothing queued: the next job goes to the main loop's blocking dequeue. Polling
            # for it here would wake this thread during the forward pass, which on a small
            # host slows the pass (its threads wait for the one that lost its core).
            return None
        prepared = self.prepare_batch(taken)
        late = []
        while len(taken) + len(late) < limit and not forward_done.wait(PREFETCH_POLL_SECONDS):
            if self._stop_requested:
                break
            late += self._take_waiting_jobs(limit - len(taken) - len(late))
        if late:
            prepared = prepared.merge(self.prepare_batch(late))
        return prepared

    # --- RQ bookkeeping for a whole batch in one transaction -------------------------------
    def _start_jobs(self, jobs: list[tuple[Job, Queue]]) -> dict[str, Execution]:
        """What RQ's prepare_execution + prepare_job_execution do per job, for all jobs in one
        MULTI/EXEC: an Execution each, in the StartedJobRegistry with the lease as TTL (so a
        killed worker's jobs are retried), job status started, out of the intermediate queue.
        """
        lease = self.batching.job_lease_seconds
        executions = {}
        with self.connection.pipeline() as pipeline:
            for job, queue in jobs:
                executions[job.id] = Execution.create(
                    job, lease, pipeline=pipeline, worker_name=self.name
                )
                job.heartbeat(now(), lease, pipeline=pipeline)
                job.prepare_for_execution(self.name, pipeline=pipeline)
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            self.set_current_job_id(jobs[-1][0].id, pipeline=pipeline)
            self.set_current_job_working_time(0, pipeline=pipeline)
            self.heartbeat(lease, pipeline=pipeline)
            pipeline.execute()
        return executions

    def _finish_batch(self, batch: PreparedBatch, outcome: BatchOutcome | None) -> None:
        if not batch.jobs:
            return
        ended = now()
        for job, _ in batch.jobs:
            job.ended_at = ended
        if batch.error is not None or outcome is None:
            for job, queue in batch.jobs:
                self._finish_failed(job, queue, batch.executions, exc_info=batch.error)
            return
        succeeded = [(job, q) for job, q in batch.jobs if job.args[0] not in outcome.failures]
        self._finish_succeeded(succeeded, batch.executions, outcome, batch.queue_waits)
        for job, queue in batch.jobs:
            message = outcome.failures.get(job.args[0])
            if message is not None:
                job.retries_left = 0  # a broken image stays broken
                self._finish_failed(job, queue, batch.executions, message=message)

    def _finish_succeeded(
        self, jobs, executions, outcome: BatchOutcome, queue_waits: list[float]
    ) -> None:
        """What RQ's handle_job_success does per job, for all jobs in one MULTI/EXEC: result
        written to the job's result stream (this wakes the waiting web request), job in the
        FinishedJobRegistry, its Execution removed from the StartedJobRegistry; plus the
        batch counters. Jobs with dependents or repeats go through RQ's own method."""
        with self.connection.pipeline() as pipeline:
            while True:
                try:
                    if jobs:
                        pipeline.watch(*[job.dependents_key for job, _ in jobs])
                        if pipeline.exists(*[job.dependents_key for job, _ in jobs]) or any(
                            job.repeats_left for job, _ in jobs
                        ):
                            pipeline.reset()
                            self._finish_succeeded_one_by_one(jobs, executions)
                            jobs = []
                    pipeline.multi()
                    for job, _ in jobs:
                        execution = executions[job.id]
                        job._result = {"prediction": job.args[0]}
                        self.increment_successful_job_count(pipeline=pipeline)
                        self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
                        result_ttl = job.get_result_ttl(self.default_result_ttl)
                        if result_ttl != 0:
                            job._handle_success(
                                result_ttl,
                                pipeline=pipeline,
                                worker_name=self.name,
                                execution_id=execution.id,
                                execution_started_at=execution.created_at,
                                execution_ended_at=job.ended_at,
                            )
                        job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
                        execution.delete(job=job, pipeline=pipeline)
                    self.set_current_job_id(None, pipeline=pipeline)
                    self._record_stats(pipeline, outcome)
                    self._record_metrics(pipeline, outcome, queue_waits)
                    pipeline.execute()
                    return
                except WatchError:
                    continue

    def _finish_succeeded_one_by_one(self, jobs, executions) -> None:
        for job, queue in jobs:
            self.execution = executions[job.id]
            job._result = {"prediction": job.args[0]}
            job._status = JobStatus.FINISHED
            self.handle_job_success(
                job=job, queue=queue, started_job_registry=queue.started_job_registry
            )
        self.execution = None

    def _finish_failed(
        self, job: Job, queue: Queue, executions, *, message: str = "", exc_info=None
    ) -> None:
        """Through RQ's own handle_job_failure: failed registry, retries, failure callback."""
        self.execution = executions[job.id]
        job._status = JobStatus.FAILED
        if exc_info is not None:
            job.execute_failure_callback(self.death_penalty_class, *exc_info)
            message = "".join(traceback.format_exception(*exc_info))
        try:
            self.handle_job_failure(
                job=job,
                queue=queue,
                started_job_registry=queue.started_job_registry,
                exc_string=message,
            )
        finally:
            self.execution = None

    def _record_metrics(self, pipeline, outcome: BatchOutcome, queue_waits: list[float]) -> None:
        """The Prometheus metrics of this batch, added up in Redis with every other worker's
        (`monitoring.shared`): queued in the pipeline that finishes the batch."""
        model = self.model.name
        metrics.QUEUE_WAIT_SECONDS.observe_many(pipeline, queue_waits, model=model)
        if outcome.forward_passes:
            metrics.BATCH_SIZE.observe(pipeline, len(outcome.results), model=model)
            metrics.FORWARD_SECONDS.observe(pipeline, outcome.forward_seconds, model=model)
            metrics.IMAGES_CLASSIFIED.inc(pipeline, len(outcome.results), model=model)

    def _record_pace(self, batch: PreparedBatch, execute_seconds: float) -> None:
        """This worker's seconds per image, for the time estimates of pending answers."""
        if batch.work is None or not batch.work.inputs:
            return
        with suppress(*REDIS_DOWN):
            queueing.record_pace(
                self.connection,
                worker_name=self.name,
                seconds=batch.prepare_seconds + execute_seconds,
                images=len(batch.work.inputs),
            )

    def teardown(self):
        with suppress(*REDIS_DOWN):
            self.connection.hdel(queueing.PACE_KEY, self.name)
        super().teardown()

    @staticmethod
    def _record_stats(pipeline, outcome: BatchOutcome) -> None:
        pipeline.hincrby(STATS_KEY, "forward_passes", outcome.forward_passes)
        pipeline.hincrby(STATS_KEY, "images", len(outcome.results))
        pipeline.hincrbyfloat(STATS_KEY, "forward_seconds", outcome.forward_seconds)


@dataclass
class PreparedBatch:
    """Jobs started in RQ, their predictions marked running and images decoded."""

    jobs: list[tuple[Job, Queue]]
    executions: dict[str, Execution]
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
    warmed = getattr(model, "_warmed_batch_sizes", set())
    height, width = model.input_size
    for size in batch_sizes:
        if size not in warmed:
            model.predict_batch(np.zeros((size, height, width, 3), dtype=np.float32))
            warmed.add(size)
    model._warmed_batch_sizes = warmed


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


def read_stats(connection) -> dict[str, float]:
    raw = connection.hgetall(STATS_KEY)
    return {key.decode(): float(value) for key, value in raw.items()}
