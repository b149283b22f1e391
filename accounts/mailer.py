"""E-mails leave the request path: one small, bounded sender thread per web process.

A password-reset request used to render and send its e-mail inside the request, so an
address with an account answered ~50 ms slower than one without (the SMTP round trip),
which told anyone which addresses have accounts. Now the request only hands a job to
this sender and answers; the job (the account lookup included) runs after the response.
Known and unknown addresses do the same work in the request.

Why a thread in the web process rather than a queue and a worker: it works the same in
every way of running the site (the quick start, compose, Kubernetes) with no new service
and no change to the model worker, and these e-mails are cheap to lose: a person who
gets no reset link asks again. What it costs: jobs still waiting when a process is killed
(not stopped) are lost; a graceful stop waits up to EMAIL_TIMEOUT for them (atexit).

Bounded: at most QUEUE_SIZE jobs wait. With the queue full (a flood the rate limits
already make unlikely) a job runs in the request instead, so nothing is dropped.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.utils import translation

logger = logging.getLogger(__name__)

QUEUE_SIZE = 200

_lock = threading.Lock()
_jobs: queue.Queue | None = None
_owner_pid: int | None = None


def _run(language: str | None, job: Callable[[], None]) -> None:
    try:
        with translation.override(language):
            job()
    except Exception:  # a failed send must not kill the sender; the person can ask again
        logger.exception("e-mail job failed")


def _sender(jobs: queue.Queue) -> None:
    while True:
        language, job = jobs.get()
        try:
            _run(language, job)
        finally:
            connections.close_all()  # this thread's database connection, per job
            jobs.task_done()


def _queue() -> queue.Queue:
    """This process's queue and sender (a forked process starts its own)."""
    global _jobs, _owner_pid
    with _lock:
        if _jobs is None or _owner_pid != os.getpid():
            _jobs = queue.Queue(maxsize=QUEUE_SIZE)
            _owner_pid = os.getpid()
            threading.Thread(target=_sender, args=(_jobs,), name="mailer", daemon=True).start()
        return _jobs


def send_later(job: Callable[[], None]) -> None:
    """Run `job` (which sends e-mail) after the response, in the current language."""
    language = translation.get_language()
    try:
        _queue().put_nowait((language, job))
    except queue.Full:
        logger.warning("e-mail queue full (%d jobs): sending in the request", QUEUE_SIZE)
        _run(language, job)


def wait_until_sent(timeout: float) -> bool:
    """Whether every job handed over so far has run, waiting up to `timeout` seconds."""
    jobs = _jobs
    deadline = time.monotonic() + timeout
    while jobs is not None and jobs.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    return jobs is None or not jobs.unfinished_tasks


@atexit.register
def _drain_on_exit() -> None:
    if _jobs is not None and _owner_pid == os.getpid() and _jobs.unfinished_tasks:
        wait_until_sent(timeout=settings.EMAIL_TIMEOUT)
