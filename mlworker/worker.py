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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db import connection as db_connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.utils import now
from rq.worker import WorkerStatus

from classifier import queueing
from mlworker.batch import (
    PreparedBatch,
    batch_job,
    drop_broken_database_connections,
    queue_waits,
    record_metrics,
    warm_up,
)
from mlworker.candidates import load_candidate
from mlworker.inference import BatchOutcome
from mlworker.models.base import ImageClassifier
from mlworker.recovery import sweep_lost_predictions
from mlworker.registry_loader import RegistryModels
from mlworker.rq_adapter import BatchRQWorker

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


class BatchWorker(BatchRQWorker):
    #: longest pause between reconnection attempts while Redis is down (RQ's default: 60 s)
    max_connection_wait_time = 5.0

    def __init__(
        self,
        queues: Sequence[Queue],
        *,
        model: ImageClassifier,
        batching: BatchSettings,
        registry_models: RegistryModels | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(queues, **kwargs)
        self.model = model
        #: follows the registry's live version between batches (None: always `model`)
        self.registry_models = registry_models
        self.batching = batching
        self.batches_done = 0
        self._last_batch_size = 0
        #: the seconds per image this worker last wrote to PACE_KEY (saves reading it back)
        self._pace: float | None = None

    def register_birth(self) -> None:
        super().register_birth()
        self.publish_model()

    def publish_model(self) -> None:
        """Tell the web which model this worker runs (`classifier.queueing`), for as long
        as a worker counts as live without a beat: two heartbeat periods."""
        queueing.publish_live_model(
            self.connection,
            worker_name=self.name,
            model_name=self.model.name,
            ttl=2 * self.worker_ttl,
        )

    def follow_live_version(self) -> ImageClassifier:
        """The model for the next batch: the registry's live version (loaded on a change,
        `mlworker.registry_loader`), published in place of the one before."""
        if self.registry_models is None:
            return self.model
        model = self.registry_models.current()
        if model is not self.model:
            with suppress(*REDIS_DOWN):
                queueing.withdraw_live_model(
                    self.connection, worker_name=self.name, model_name=self.model.name
                )
            self.model = model
            with suppress(*REDIS_DOWN):
                self.publish_model()
        return model

    def get_heartbeat_ttl(self, job: Job) -> int:
        return self.batching.job_lease_seconds

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        for queue in self.queues:
            sweep_lost_predictions(queue, grace_seconds=self.batching.job_lease_seconds)

    # --- the loop ---------------------------------------------------------------------------
    def work(  # type: ignore[override]  # batches, not RQ's per-job options
        self, burst: bool = False, logging_level: str = "INFO", max_batches: int | None = None
    ) -> int:
        """Dequeue → prepare → perform (one forward pass) → finish each job, until stopped.

        While a batch is in the model, a helper thread takes the jobs waiting behind it and
        prepares them (registries, database, image decoding), so under load the model
        goes from one batch to the next without waiting on that work.
        """
        warm_up(self.model, sorted({1, self.batching.batch_size}))
        self.bootstrap(logging_level)
        self.install_signal_handlers()
        stop_beating = self.keep_alive()
        # The helper has its own database connection; inside an open transaction (a test's)
        # it could not see this one's rows, so batches then run one at a time.
        prefetcher = (
            None
            if db_connection.in_atomic_block
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-prefetch")
        )
        in_hand: PreparedBatch | None = None
        try:
            while in_hand is not None or not self.stop_requested:
                try:
                    if self.should_run_maintenance_tasks:
                        self.run_maintenance_tasks()
                    if in_hand is None:
                        self.check_for_suspension(burst)  # `rq suspend`: wait (burst: stop)
                        batch = self.dequeue_batch(burst=burst)
                        if not batch:
                            if burst:
                                break
                            self.follow_live_version()  # idle: load a new live version now
                            if self.registry_models is not None:
                                drop_broken_database_connections()
                                load_candidate()  # and a new candidate on trial
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
            stop_beating()
            with suppress(*REDIS_DOWN):  # stopping during an outage is still a clean exit
                self.teardown()
        return self.batches_done

    def keep_alive(self) -> Callable[[], None]:
        """Until the returned function is called: heartbeat and renew this worker's leases.

        A thread of its own, so a worker deep in a slow forward pass or waiting out
        `rq suspend` still beats (health counts workers that beat within two periods, so a
        killed one drops out of it within two), and JOB_LEASE_SECONDS is how long a job
        outlives its worker, not a limit on how long it may wait and run here: a slow
        batch, or one prepared behind it, is never taken for abandoned and run twice.
        """
        stop = threading.Event()
        lease = self.batching.job_lease_seconds
        period = max(0.5, min(lease / 3, self.worker_ttl / 2))

        def beat():
            while not stop.wait(period):
                with suppress(*REDIS_DOWN):
                    self.mark_alive(ttl=self.worker_ttl * 2)
                    self.publish_model()
                    self.renew_leases(lease)

        thread = threading.Thread(target=beat, name=f"{self.name}-alive", daemon=True)
        thread.start()

        def stop_beating() -> None:
            stop.set()
            thread.join(timeout=15)  # before teardown, so no beat re-creates the worker's key

        return stop_beating

    def dequeue_batch(self, *, burst: bool) -> list[tuple[Job, Queue]]:
        """Take what is waiting, or block for one job; then maybe wait for company.

        The wait (up to max_wait_ms) is only for a worker that found jobs already queued
        (they are arriving, so a few more may come) and not a full batch of them. A worker
        that had to block for its job was idle: the job goes to the model at once (a lone
        user gains nothing from the wait). Under load batches form without waiting.
        """
        batch = self.take_waiting_jobs(self.batching.batch_size)
        was_idle = not batch
        if was_idle:
            # At most one dequeue timeout idle, so the loop looks at `rq suspend` that often
            # (RQ's own wait would block until a job came, and start it, suspended or not).
            timeout = None if burst else self.dequeue_timeout
            first = self.dequeue_job_and_maintain_ttl(timeout, max_idle_time=timeout)
            if first is None:
                return []
            batch = [first, *self.take_waiting_jobs(self.batching.batch_size - 1)]
        self.set_state(WorkerStatus.BUSY)  # from here a first SIGTERM lets the batch finish
        if len(batch) == 1 and (was_idle or self._last_batch_size <= 1):
            return batch
        deadline = time.monotonic() + self.batching.max_wait_ms / 1000
        while len(batch) < self.batching.batch_size and time.monotonic() < deadline:
            time.sleep(min(WAIT_POLL_SECONDS, max(deadline - time.monotonic(), 0)))
            batch += self.take_waiting_jobs(self.batching.batch_size - len(batch))
        return batch

    def prepare_batch(
        self, batch: list[tuple[Job, Queue]], model: ImageClassifier | None = None
    ) -> PreparedBatch:
        """Start the batch's jobs that name a `BatchJob` (one Redis transaction) and run its
        prepare step (mark their predictions running, decode their images) for `model`
        (default: the live one; the whole batch runs on it). Other jobs are set aside for
        `execute_batch`, which runs them the RQ way."""
        if model is None:
            model = self.follow_live_version()
        kinds = {job.id: batch_job(job) for job, _ in batch}
        kind = next((k for k in kinds.values() if k is not None), None)
        jobs = [(job, queue) for job, queue in batch if kind is not None and kinds[job.id] is kind]
        others = [(job, queue) for job, queue in batch if kind is None or kinds[job.id] is not kind]
        if kind is None:
            return PreparedBatch(kind=None, jobs=[], executions={}, other_jobs=others, model=model)
        started = time.monotonic()
        with self.connection.pipeline() as pipeline:
            executions = self.start_jobs(
                jobs, lease=self.batching.job_lease_seconds, pipeline=pipeline
            )
            # Taken off the queue: the owners' places are free (MAX_QUEUED_PER_USER).
            queueing.free_queue_places(
                pipeline, [(job.meta.get(queueing.OWNER_META), job.id) for job, _ in jobs]
            )
            pipeline.execute()
        waits = queue_waits([job for job, _ in jobs])
        try:
            work = kind.prepare(model, [job.args[0] for job, _ in jobs])
        except Exception:
            return PreparedBatch(
                kind=kind,
                jobs=jobs,
                executions=executions,
                other_jobs=others,
                error=sys.exc_info(),
                model=model,
            )
        return PreparedBatch(
            model=model,
            kind=kind,
            jobs=jobs,
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
        if prefetcher is not None and batch.work is not None and not self.stop_requested:
            upcoming = prefetcher.submit(self._prefetch_batch, forward_done)
        try:
            outcome = None
            if batch.kind is not None and batch.error is None and batch.work is not None:
                try:
                    outcome = batch.kind.forward(batch.model, batch.work)
                except Exception:
                    batch.error = sys.exc_info()
            forward_done.set()
            if batch.kind is not None and outcome is not None:
                try:
                    batch.kind.record(
                        outcome,
                        model_name=batch.model.name,
                        model_version_id=batch.model.version_id,
                    )
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
        taken = self.take_waiting_jobs(limit)
        if not taken:
            # Nothing queued: the next job goes to the main loop's blocking dequeue. Polling
            # for it here would wake this thread during the forward pass, which on a small
            # host slows the pass (its threads wait for the one that lost its core).
            return None
        prepared = self.prepare_batch(taken)
        late: list[tuple[Job, Queue]] = []
        while len(taken) + len(late) < limit and not forward_done.wait(PREFETCH_POLL_SECONDS):
            if self.stop_requested:
                break
            late += self.take_waiting_jobs(limit - len(taken) - len(late))
        if late:  # on the same model: a batch never mixes versions
            prepared = prepared.merge(self.prepare_batch(late, model=prepared.model))
        return prepared

    def _finish_batch(self, batch: PreparedBatch, outcome: BatchOutcome | None) -> None:
        if not batch.jobs:
            return
        ended = now()
        for job, _ in batch.jobs:
            job.ended_at = ended
        if batch.error is not None or outcome is None:
            for job, queue in batch.jobs:
                self.finish_failed(job, queue, batch.executions, exc_info=batch.error)
            return
        succeeded = [(job, q) for job, q in batch.jobs if job.args[0] not in outcome.failures]
        # Counted in the transaction that finishes the jobs, so a client woken by its answer
        # sees them.
        self.finish_succeeded(
            succeeded,
            batch.executions,
            results={job.id: {"prediction": job.args[0]} for job, _ in succeeded},
            also=lambda pipeline: record_metrics(
                pipeline, outcome, batch.queue_waits, model=batch.model.name
            ),
        )
        for job, queue in batch.jobs:
            message = outcome.failures.get(job.args[0])
            if message is not None:
                job.retries_left = 0  # a broken image stays broken
                self.finish_failed(job, queue, batch.executions, message=message)

    def _record_pace(self, batch: PreparedBatch, execute_seconds: float) -> None:
        """This worker's seconds per image, for the time estimates of pending answers."""
        if batch.work is None or not batch.work.inputs:
            return
        with suppress(*REDIS_DOWN):
            self._pace = queueing.record_pace(
                self.connection,
                worker_name=self.name,
                seconds=batch.prepare_seconds + execute_seconds,
                images=len(batch.work.inputs),
                previous=self._pace,
            )

    def teardown(self):
        with suppress(*REDIS_DOWN):
            self.connection.hdel(queueing.PACE_KEY, self.name)
            queueing.withdraw_live_model(
                self.connection, worker_name=self.name, model_name=self.model.name
            )
        super().teardown()
