"""How the batched worker forms a batch: an idle worker runs a lone job at once, a busy one
waits up to BATCH_MAX_WAIT_MS for company.

Real Redis and RQ; the model is never called while dequeuing, so a stand-in names it.
"""

import threading
import time

import django_rq
import pytest
from django.conf import settings

from classifier.catalog import CLASSIFY_JOB
from mlworker.worker import BatchSettings, BatchWorker

pytestmark = pytest.mark.django_db  # a dequeue may run the worker's recovery sweep

#: long enough that a batch that waited for company cannot be mistaken for one that did not
MAX_WAIT_MS = 1500


class NamedOnly:
    """What dequeuing asks of a model: its name (published as the worker's model)."""

    name = "stand-in"


@pytest.fixture
def worker(clean_redis):
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    worker = BatchWorker(
        [queue], model=NamedOnly(), batching=BatchSettings(batch_size=8, max_wait_ms=MAX_WAIT_MS)
    )
    worker.register_birth()
    yield worker
    worker.register_death()


def enqueue(worker, job_id: str) -> None:
    worker.queues[0].enqueue(CLASSIFY_JOB, job_id, job_id=job_id)


def timed_dequeue(worker) -> tuple[list[str], float]:
    started = time.monotonic()
    batch = worker.dequeue_batch(burst=False)
    return [job.id for job, _ in batch], time.monotonic() - started


def test_an_idle_worker_runs_a_lone_job_without_waiting_for_company(worker):
    worker._last_batch_size = 4  # the last batch was full of company: now it is quiet
    arrival = threading.Timer(0.3, enqueue, args=(worker, "lone"))
    arrival.start()
    try:
        ids, seconds = timed_dequeue(worker)
    finally:
        arrival.join()
    assert ids == ["lone"]
    # ~0.3 s waiting idle for the job, then no MAX_WAIT_MS on top of it
    assert seconds < 0.3 + MAX_WAIT_MS / 1000 / 2, seconds


def test_a_worker_that_finds_jobs_queued_waits_for_company(worker):
    worker._last_batch_size = 4  # busy: jobs have been arriving
    enqueue(worker, "first")
    late = threading.Timer(0.3, enqueue, args=(worker, "late"))
    late.start()
    try:
        ids, seconds = timed_dequeue(worker)
    finally:
        late.join()
    assert ids == ["first", "late"]  # the wait let the late one join the batch
    assert seconds >= MAX_WAIT_MS / 1000 - 0.05, seconds
