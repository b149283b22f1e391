"""Contract test: the batch worker's use of RQ internals against RQ's real registries.

Each method of `mlworker.rq_adapter.BatchRQWorker` is run on the real Redis and checked by
what RQ's own public API then reports (job status, registries, results). An RQ upgrade
that changes what these internals do fails here, by name, instead of silently.
"""

import time

import django_rq
import pytest
from django.conf import settings
from rq import Retry
from rq.job import JobStatus
from rq.results import Result
from rq.utils import now

from classifier.catalog import CLASSIFY_JOB
from mlworker.rq_adapter import RQ_INTERNALS, BatchRQWorker

LEASE = 30


@pytest.fixture
def queue():
    return django_rq.get_queue(settings.INFERENCE_QUEUE)


@pytest.fixture
def worker(queue):
    worker = BatchRQWorker([queue], connection=queue.connection)
    worker.register_birth()
    yield worker
    worker.register_death()


def started(worker, queue, count=2, **enqueue):
    for number in range(count):
        queue.enqueue(CLASSIFY_JOB, f"prediction-{number}", job_id=f"job-{number}", **enqueue)
    jobs = worker.take_waiting_jobs(count)
    assert [job.id for job, _ in jobs] == [f"job-{n}" for n in range(count)]
    return jobs, start(worker, jobs)


def start(worker, jobs):
    with worker.connection.pipeline() as pipeline:
        executions = worker.start_jobs(jobs, lease=LEASE, pipeline=pipeline)
        pipeline.execute()
    return executions


def test_the_rq_internals_we_use_still_exist():
    instance_attributes = {"_result", "_status"}  # set on every Job in __init__, checked below
    missing = [
        f"{owner.__name__}.{name}"
        for owner, names in RQ_INTERNALS.items()
        for name in names
        if name not in instance_attributes and not hasattr(owner, name)
    ]
    assert not missing, f"RQ no longer has {missing}: update mlworker/rq_adapter.py"


def test_a_job_has_the_private_attributes_the_adapter_sets(queue):
    job = queue.enqueue(CLASSIFY_JOB, "prediction-x", job_id="job-x")
    assert hasattr(job, "_result") and hasattr(job, "_status")


def test_taking_waiting_jobs_never_blocks(worker):
    before = time.monotonic()
    assert worker.take_waiting_jobs(4) == []
    # A blocking read would wait out RQ's dequeue timeout (minutes); the bound leaves a busy
    # machine room for two round trips to Redis.
    assert time.monotonic() - before < 10


def test_started_jobs_are_in_the_started_registry_with_their_lease(worker, queue):
    jobs, executions = started(worker, queue)
    registry = queue.started_job_registry
    assert set(registry.get_job_ids()) == {"job-0", "job-1"}
    assert queue.count == 0
    for job, _ in jobs:
        assert job.get_status(refresh=True) == JobStatus.STARTED
        assert executions[job.id].job_id == job.id
    for _, score in queue.connection.zrange(registry.key, 0, -1, withscores=True):
        assert time.time() < score <= time.time() + LEASE + 1


def test_renewing_leases_pushes_back_only_this_workers_deadlines(worker, queue):
    started(worker, queue)
    registry = queue.started_job_registry
    worker.renew_leases(600)
    for _, score in queue.connection.zrange(registry.key, 0, -1, withscores=True):
        assert score > time.time() + 500


def test_finished_jobs_have_their_result_and_leave_the_started_registry(worker, queue):
    jobs, executions = started(worker, queue)
    for job, _ in jobs:
        job.ended_at = now()
    worker.finish_succeeded(
        jobs, executions, results={job.id: {"prediction": job.args[0]} for job, _ in jobs}
    )
    assert queue.started_job_registry.get_job_ids() == []
    assert set(queue.finished_job_registry.get_job_ids()) == {"job-0", "job-1"}
    for job, _ in jobs:
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == {"prediction": job.args[0]}
        assert Result.fetch_latest(job).type == Result.Type.SUCCESSFUL


def test_failed_jobs_are_retried_then_land_in_the_failed_registry(worker, queue):
    jobs, executions = started(worker, queue, count=1, retry=Retry(max=1))
    (job, job_queue) = jobs[0]
    job.ended_at = now()
    worker.finish_failed(job, job_queue, executions, message="broken")
    assert queue.started_job_registry.get_job_ids() == []
    assert job.get_status(refresh=True) == JobStatus.QUEUED  # one retry left
    ((job, job_queue),) = worker.take_waiting_jobs(1)
    executions = start(worker, [(job, job_queue)])
    job.ended_at = now()
    worker.finish_failed(job, job_queue, executions, message="still broken")
    assert queue.failed_job_registry.get_job_ids() == ["job-0"]
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert Result.fetch_latest(job).exc_string == "still broken"


def test_mark_alive_refreshes_the_heartbeat_of_a_registered_worker_only(worker, queue):
    from rq.worker import Worker

    before = Worker.find_by_key(worker.key, connection=queue.connection).last_heartbeat
    time.sleep(0.01)  # RQ's timestamps have microseconds; make the next one differ
    worker.mark_alive(ttl=20)
    after = Worker.find_by_key(worker.key, connection=queue.connection).last_heartbeat
    assert after > before
    assert queue.connection.ttl(worker.key) >= 19
    worker.register_death()
    worker.mark_alive(ttl=20)
    dead = Worker.find_by_key(worker.key, connection=queue.connection)
    assert dead is None or dead.last_heartbeat == after
