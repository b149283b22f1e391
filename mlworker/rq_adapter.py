"""The one place the batch worker reaches into RQ's internals.

RQ runs one job at a time and has no public API for starting or finishing a batch. So
this class does, for a whole batch in one Redis transaction, what RQ's own
`prepare_job_execution` / `handle_job_success` / `handle_job_failure` do per job, and it
alone touches RQ's private names (`Job._handle_success`, `Job._result`, `Job._status`,
`Worker._stop_requested`, `Worker._install_signal_handlers`, `Worker._ordered_queues`,
the StartedJobRegistry's execution entries). `mlworker.worker.BatchWorker` builds on it
with RQ's public API only. `mlworker/tests/test_rq_adapter.py` runs every method against
RQ's real registries on the real Redis, so an RQ upgrade that changes them fails there.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from redis.client import Pipeline
from redis.exceptions import WatchError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import as_text, get_version, now, utcformat
from rq.worker import SimpleWorker

#: RQ's names this module relies on; the contract test checks each still exists.
RQ_INTERNALS = {
    Job: ("_handle_success", "_result", "_status"),
    SimpleWorker: ("_install_signal_handlers", "handle_job_success", "handle_job_failure"),
}

JobAndQueue = tuple[Job, Queue]

#: up to ARGV[1] ids from the queue (KEYS[1]) to its intermediate queue (KEYS[2]), in order
_TAKE_IDS = """
local ids = {}
for _ = 1, tonumber(ARGV[1]) do
  local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not id then break end
  ids[#ids + 1] = id
end
return ids
"""


class BatchRQWorker(SimpleWorker):
    """An RQ worker with batch-sized versions of RQ's per-job bookkeeping."""

    # --- worker state ---------------------------------------------------------------------
    @property
    def stop_requested(self) -> bool:
        """Set by the first SIGTERM/SIGINT (RQ's handler): finish what is in hand, then stop."""
        return self._stop_requested

    @property
    def dequeue_timeout(self) -> int:
        # Wake up often enough to heartbeat well inside worker_ttl.
        return max(1, self.worker_ttl // 2)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout or self.worker_ttl * 2, pipeline=pipeline)
            return
        # RQ's two commands and the registration check in one round trip (RQ beats twice
        # around every dequeue).
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout or self.worker_ttl * 2, pipeline=own)
            own.hexists(self.key, "birth")
            registered = own.execute()[-1]
        if not registered:
            self.log.warning("Worker %s: Redis lost its registration; registering again", self.name)
            self.connection.delete(self.key)
            self.register_birth()

    def install_signal_handlers(self) -> None:
        self._install_signal_handlers()

    def mark_alive(self, *, ttl: int) -> None:
        """Refresh `last_heartbeat` (what health counts) and keep the worker's key at least
        `ttl` seconds; a worker not registered (any more) is left unregistered."""
        birth, death = self.connection.hmget(self.key, ["birth", "death"])
        if birth is None or death is not None:
            return
        self.connection.hset(self.key, "last_heartbeat", utcformat(now()))
        if self.connection.ttl(self.key) < ttl:
            self.connection.expire(self.key, ttl)

    def take_waiting_jobs(self, limit: int) -> list[JobAndQueue]:
        """Up to `limit` jobs that are queued right now, in RQ's queue order (never blocks).

        Waiting is done by polling, not BLMOVE: Redis checks blocking timeouts only
        `hz` (10) times a second, so a 10 ms BLMOVE could block for up to 100 ms.
        On one queue (ours) this is two round trips for the whole batch (the ids moved to
        RQ's intermediate queue by one script, as RQ's own LMOVE does one at a time, then
        the jobs read in one pipeline) instead of RQ's two per job.
        """
        queues = self._ordered_queues
        if limit <= 0:
            return []
        if len(queues) != 1 or get_version(self.connection) < (6, 2, 0):
            return self._take_waiting_jobs_one_by_one(limit)
        queue = queues[0]
        ids = [
            as_text(job_id)
            for job_id in self._take_ids(
                keys=[queue.key, queue.intermediate_queue_key], args=[limit]
            )
        ]
        if not ids:
            return []
        jobs = self.job_class.fetch_many(
            ids, connection=self.connection, serializer=self.serializer
        )
        # A job gone from Redis is passed over, as RQ's dequeue does.
        return [(job, queue) for job in jobs if job is not None]

    @property
    def _take_ids(self):
        script = getattr(self, "_take_ids_script", None)
        if script is None:
            script = self._take_ids_script = self.connection.register_script(_TAKE_IDS)
        return script

    def _take_waiting_jobs_one_by_one(self, limit: int) -> list[JobAndQueue]:
        taken: list[JobAndQueue] = []
        while len(taken) < limit:
            job_and_queue = self.queue_class.dequeue_any(
                self._ordered_queues, None, connection=self.connection, job_class=self.job_class
            )
            if job_and_queue is None:
                break
            taken.append(job_and_queue)
        return taken

    # --- starting -------------------------------------------------------------------------
    def start_jobs(
        self, jobs: list[JobAndQueue], *, lease: int, pipeline: Pipeline
    ) -> dict[str, Execution]:
        """RQ's prepare_execution + prepare_job_execution for every job, queued on
        `pipeline` (a MULTI/EXEC the caller executes): an Execution each in the
        StartedJobRegistry with the lease as TTL (so a killed worker's jobs are retried),
        job status started, out of the intermediate queue."""
        executions = {}
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
        return executions

    def renew_leases(self, lease: int) -> None:
        """Push back the lease of every job this worker has started (not others' jobs)."""
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

    # --- finishing ------------------------------------------------------------------------
    def finish_succeeded(
        self,
        jobs: list[JobAndQueue],
        executions: dict[str, Execution],
        *,
        results: dict[str, Any],
        also: Callable[[Pipeline], None] | None = None,
    ) -> None:
        """RQ's handle_job_success for every job, in one MULTI/EXEC: `results[job.id]`
        written to the job's result stream (this wakes the waiting web request), job in the
        FinishedJobRegistry, its Execution out of the StartedJobRegistry. Jobs with
        dependents or repeats go through RQ's own method, one by one. `also` queues the
        caller's own commands (the batch's metrics) in the same transaction."""
        with self.connection.pipeline() as pipeline:
            while True:
                try:
                    if jobs:
                        pipeline.watch(*[job.dependents_key for job, _ in jobs])
                        if pipeline.exists(*[job.dependents_key for job, _ in jobs]) or any(
                            job.repeats_left for job, _ in jobs
                        ):
                            pipeline.reset()
                            self._finish_succeeded_one_by_one(jobs, executions, results)
                            jobs = []
                    pipeline.multi()
                    if also is not None:
                        also(pipeline)
                    for job, _ in jobs:
                        execution = executions[job.id]
                        assert job.started_at is not None and job.ended_at is not None
                        job._result = results[job.id]
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
                    pipeline.execute()
                    return
                except WatchError:
                    continue

    def _finish_succeeded_one_by_one(
        self,
        jobs: Iterable[JobAndQueue],
        executions: dict[str, Execution],
        results: dict[str, Any],
    ) -> None:
        for job, queue in jobs:
            self.execution = executions[job.id]
            job._result = results[job.id]
            job._status = JobStatus.FINISHED
            self.handle_job_success(
                job=job, queue=queue, started_job_registry=queue.started_job_registry
            )
        self.execution = None

    def finish_failed(
        self,
        job: Job,
        queue: Queue,
        executions: dict[str, Execution],
        *,
        message: str = "",
        exc_info: tuple | None = None,
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
