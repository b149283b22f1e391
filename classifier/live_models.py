"""Which models the live workers run, as the workers themselves publish it in Redis.

This is the report of what runs; which version *should* run is the registry's decision
(`registry.selectors.live_version`), and docs/ARCHITECTURE.md ("Two views of the live
model") says which of the two decides what. Each worker publishes its model name when it
starts, with every heartbeat and on each switch, each entry with an expiry, and withdraws it
when it stops; a worker killed without a goodbye drops out when its entry expires. The web
only reads this (the pages' model name, whether the result cache may answer, its key while
no registry version is live, and whose pace counts in the queue estimate) and so never
imports or probes a model runtime. An empty answer means no worker is live: uploads still
queue, and wait for one.

One sorted set: member = the worker and its model (JSON), score = the Unix time the entry
expires. Reading is one ZRANGEBYSCORE from now, so it can ride in another pipeline.
"""

from __future__ import annotations

import json
import time

from redis import Redis
from redis.client import Pipeline

LIVE_MODELS_KEY = "mlworker:live-models"


def _member(*, worker_name: str, model_name: str) -> str:
    return json.dumps({"model": model_name, "worker": worker_name}, sort_keys=True)


def publish(connection: Redis, *, worker_name: str, model_name: str, ttl: float) -> None:
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


def withdraw(connection: Redis, *, worker_name: str, model_name: str) -> None:
    """The worker stops: its model is no longer served by it."""
    connection.zrem(LIVE_MODELS_KEY, _member(worker_name=worker_name, model_name=model_name))


def read_into(pipeline: Pipeline) -> None:
    """Queue the read in `pipeline`; pass its answer to `models_by_worker`."""
    pipeline.zrangebyscore(LIVE_MODELS_KEY, time.time(), "+inf")


def models_by_worker(members: list) -> dict[str, str]:
    """Live worker name → the model it runs, from a `read_into` answer."""
    live = {}
    for member in members:
        try:
            entry = json.loads(member)
            live[str(entry["worker"])] = str(entry["model"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours: ignore rather than fail a page
    return live


def names_from(members: list) -> list[str]:
    """The distinct model names in a `read_into` answer, sorted."""
    return sorted(set(models_by_worker(members).values()))


def live_model_names(connection: Redis) -> list[str]:
    """The models live workers run now; empty when no worker is live."""
    pipeline = connection.pipeline(transaction=False)
    read_into(pipeline)
    (members,) = pipeline.execute()
    return names_from(members)
