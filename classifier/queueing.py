"""The only place the web side talks to the inference queue (jobs, each user's waiting
places, the workers' pace and which models the live workers run).

Jobs are referenced by dotted path (`classifier.catalog`) so the web process never imports
the worker's TensorFlow code. The RQ job id is the prediction's UUID.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable

import django_rq
from django.conf import settings
from redis import Redis
from redis.client import Pipeline
from rq import Callback, Retry
from rq.results import Result

from classifier.catalog import CLASSIFY_JOB, FAILURE_CALLBACK

_per_thread = threading.local()


def inference_queue():
    """The inference queue, on a Redis client this thread keeps.

    `django_rq.get_queue` builds a new client and connection pool on every call, so each
    call opened (and handshook) a fresh TCP connection; an upload made two. Keeping one
    client per thread (gunicorn's threads are a fixed pool; keyed by pid in case of a
    fork) reuses the connection and never hits a shared pool's connection limit, since
    each waiting request holds its connection in a blocking XREAD.
    """
    url = settings.RQ_QUEUES[settings.INFERENCE_QUEUE]["URL"]
    key = (os.getpid(), url)
    if getattr(_per_thread, "key", None) != key:
        _per_thread.connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
        _per_thread.key = key
    return django_rq.get_queue(settings.INFERENCE_QUEUE, connection=_per_thread.connection)


def enqueue_prediction(
    *,
    prediction_id: str,
    owner_id: int | None = None,
    attempts: int | None = None,
) -> None:
    """Queue the prediction's job; RQ retries it until `attempts` (default: all) are used.

    The job goes in one MULTI/EXEC with its place among the owner's waiting jobs
    (`hold_queue_place`): left to itself RQ spends two round trips (the queue set, then the
    job). The owner rides in the job's meta, so whoever takes the job off the queue can
    free that place.
    """
    attempts = settings.PREDICTION_MAX_ATTEMPTS if attempts is None else attempts
    retries = max(attempts - 1, 0)
    queue = inference_queue()
    with queue.connection.pipeline() as pipeline:
        queue.enqueue(
            CLASSIFY_JOB,
            prediction_id,
            pipeline=pipeline,
            job_id=prediction_id,
            retry=Retry(max=retries) if retries else None,
            on_failure=Callback(FAILURE_CALLBACK),
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"classify prediction {prediction_id}",
            meta={OWNER_META: owner_id} if owner_id is not None else None,
        )
        if owner_id is not None:
            hold_queue_place(pipeline, owner_id=owner_id, prediction_id=prediction_id)
        pipeline.execute()


# --- each user's jobs waiting in the queue (MAX_QUEUED_PER_USER) ---------------------------
#: job meta key holding the prediction's owner id
OWNER_META = "owner"
#: keep a place no longer than this when nobody freed it (a web process killed mid-upload)
QUEUE_PLACE_MAX_SECONDS = 24 * 3600

#: KEYS[1]: the user's set; ARGV: cap, now, stale-before, prediction id, key ttl. 1: reserved.
_RESERVE_PLACE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def queue_places_key(owner_id) -> str:
    """A sorted set of the user's prediction ids admitted and not yet taken by a worker
    (score: when admitted). Adding and removing an id is idempotent, so a retry or a
    second release can never count a job twice or go below zero."""
    return f"imageclassifier:queued:{int(owner_id)}"


def _place_max_age() -> float:
    return settings.PREDICTION_DEADLINE_SECONDS or QUEUE_PLACE_MAX_SECONDS


def reserve_queue_place(pipeline, *, owner_id, prediction_id: str, cap: int) -> None:
    """Queue, on `pipeline`, the atomic check-and-take of one of the user's `cap` places
    (answer 1: taken, 0: all taken). Places older than the deadline are dropped first:
    a job that old is expired, not waited for."""
    now = time.time()
    # EVAL with the (short) text: an EVALSHA would need the script loaded first, which a
    # pipeline cannot do midway.
    pipeline.eval(
        _RESERVE_PLACE,
        1,
        queue_places_key(owner_id),
        cap,
        now,
        now - _place_max_age(),
        prediction_id,
        QUEUE_PLACE_MAX_SECONDS,
    )


def hold_queue_place(pipeline, *, owner_id, prediction_id: str) -> None:
    """The job is (back) on the queue: it holds a place, whatever the cap (a retry)."""
    key = queue_places_key(owner_id)
    pipeline.zadd(key, {prediction_id: time.time()})
    pipeline.expire(key, QUEUE_PLACE_MAX_SECONDS)


def free_queue_places(pipeline, places: Iterable[tuple[object, str]]) -> None:
    """(owner id, prediction id) pairs whose job left the queue (taken, cancelled) or was
    never queued; an owner of None (a job enqueued without one) is skipped."""
    for owner_id, prediction_id in places:
        if owner_id is not None:
            pipeline.zrem(queue_places_key(owner_id), prediction_id)


# redis-py gives connections a 5 s socket timeout; one blocking read must end before it.
MAX_BLOCK_SECONDS = 4.0


def wait_for_job_event(*, job_id: str, after: str, timeout: float) -> str:
    """Block on the job's result stream until an entry newer than `after` arrives.

    Returns the id of the newest entry seen, or `after` if nothing came within
    `timeout` (capped at MAX_BLOCK_SECONDS; callers loop until their own deadline).
    """
    connection = inference_queue().connection
    key = Result.get_key(job_id)
    block_ms = max(int(min(timeout, MAX_BLOCK_SECONDS) * 1000), 1)
    response = connection.xread({key: after}, block=block_ms)
    if not response:
        return after
    entries = response[0][1]
    newest = entries[-1][0]
    return newest.decode() if isinstance(newest, bytes) else newest


def queue_depth() -> int:
    """Jobs waiting in the inference queue (one LLEN)."""
    return inference_queue().count


def queue_position(*, job_id: str) -> int | None:
    """1 for the next job a worker takes, 2 for the one after...; None when not waiting.

    LPOS scans the list, which the queue cap (MAX_QUEUE_DEPTH) keeps short.
    """
    queue = inference_queue()
    index = queue.connection.lpos(queue.key, job_id)
    return None if index is None else index + 1


# --- the workers' measured pace, for the time estimates of pending answers -----------------
#: hash: worker name → "<seconds per image (moving average)> <unix time of last update>"
PACE_KEY = "mlworker:pace"
#: weight of the newest batch in the moving average
PACE_SMOOTHING = 0.2


def record_pace(
    connection, *, worker_name: str, seconds: float, images: int, previous: float | None = None
) -> float | None:
    """Fold one batch (wall time of the batch, images in it) into the worker's moving average;
    returns the new average (seconds per image).

    `previous`: the average this worker wrote last, which it may keep itself to save the
    read (one round trip per batch instead of two).
    """
    if images <= 0:
        return previous
    per_image = seconds / images
    if previous is None:
        stored = connection.hget(PACE_KEY, worker_name)
        previous = float(stored.split()[0]) if stored else None
    if previous is not None:
        per_image = previous + PACE_SMOOTHING * (per_image - previous)
    connection.hset(PACE_KEY, worker_name, f"{per_image:.6f} {time.time():.0f}")
    return per_image


def images_per_second(connection=None) -> float | None:
    """What the live workers together get through, from their paces; None when no worker is
    live or none of them has measured its pace yet."""
    connection = connection or inference_queue().connection
    pipeline = connection.pipeline(transaction=False)
    pipeline.hgetall(PACE_KEY)
    read_live_models_into(pipeline)
    paces, live = pipeline.execute()
    return _rate_from(paces, live=live)


def queue_position_and_rate(*, job_id: str) -> tuple[int | None, float | None]:
    """`queue_position` and `images_per_second` in one round trip (a pending answer's two)."""
    queue = inference_queue()
    pipeline = queue.connection.pipeline(transaction=False)
    pipeline.lpos(queue.key, job_id)
    pipeline.hgetall(PACE_KEY)
    read_live_models_into(pipeline)
    index, paces, live = pipeline.execute()
    return (None if index is None else index + 1), _rate_from(paces, live=live)


def _rate_from(paces: dict, *, live: list) -> float | None:
    """The sum of the live workers' paces (a stopped or dead worker's pace never counts)."""
    workers = live_models_by_worker(live)
    rates = []
    for worker, value in paces.items():
        name = worker.decode() if isinstance(worker, bytes) else worker
        per_image = float(value.split()[0])
        if name in workers and per_image > 0:
            rates.append(1 / per_image)
    return sum(rates) if rates else None


def estimated_seconds(*, position: int, rate: float | None) -> float | None:
    """Roughly how long until a job at `position` is answered, at `rate` images/s."""
    if rate is None or rate <= 0:
        return None
    return position / rate


# --- which models the live workers run, as they publish it -------------------------------
# This is the report of what runs; which version *should* run is the registry's decision
# (`registry.selectors.live_version`), and docs/ARCHITECTURE.md ("Two views of the live
# model") says which of the two decides what. Each worker publishes its model name when it
# starts, with every heartbeat and on each switch, each entry with an expiry, and withdraws it
# when it stops; a worker killed without a goodbye drops out when its entry expires. The web
# only reads this (the pages' model name, whether the result cache may answer, its key while
# no registry version is live, and whose pace counts in the queue estimate) and so never
# imports or probes a model runtime. An empty answer means no worker is live: uploads still
# queue, and wait for one.
#
# One sorted set: member = the worker and its model (JSON), score = the Unix time the entry
# expires. Reading is one ZRANGEBYSCORE from now, so it can ride in another pipeline.

LIVE_MODELS_KEY = "mlworker:live-models"


def _member(*, worker_name: str, model_name: str) -> str:
    return json.dumps({"model": model_name, "worker": worker_name}, sort_keys=True)


def publish_live_model(connection: Redis, *, worker_name: str, model_name: str, ttl: float) -> None:
    """This worker runs `model_name` for at least `ttl` more seconds (renewed by each beat).

    Entries of workers that died without withdrawing are pruned on the way.
    """
    now = time.time()
    pipeline = connection.pipeline(transaction=False)
    pipeline.zadd(
        LIVE_MODELS_KEY, {_member(worker_name=worker_name, model_name=model_name): now + ttl}
    )
    pipeline.zremrangebyscore(LIVE_MODELS_KEY, "-inf", now)
    pipeline.execute()


def withdraw_live_model(connection: Redis, *, worker_name: str, model_name: str) -> None:
    """The worker stops: its model is no longer served by it."""
    connection.zrem(LIVE_MODELS_KEY, _member(worker_name=worker_name, model_name=model_name))


def read_live_models_into(pipeline: Pipeline) -> None:
    """Queue the read in `pipeline`; pass its answer to `live_models_by_worker`."""
    pipeline.zrangebyscore(LIVE_MODELS_KEY, time.time(), "+inf")


def live_models_by_worker(members: list) -> dict[str, str]:
    """Live worker name → the model it runs, from a `read_live_models_into` answer."""
    live = {}
    for member in members:
        try:
            entry = json.loads(member)
            live[str(entry["worker"])] = str(entry["model"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours: ignore rather than fail a page
    return live


def live_model_names_from(members: list) -> list[str]:
    """The distinct model names in a `read_live_models_into` answer, sorted."""
    return sorted(set(live_models_by_worker(members).values()))


def live_model_names(connection: Redis) -> list[str]:
    """The models live workers run now; empty when no worker is live."""
    pipeline = connection.pipeline(transaction=False)
    read_live_models_into(pipeline)
    (members,) = pipeline.execute()
    return live_model_names_from(members)
