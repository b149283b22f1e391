"""Bounded waiting: how many requests may sit waiting for the model, per user and per process.

A request that waits for a prediction (`POST /api/predictions/`, `GET
/api/predictions/<id>/?wait=N`, the older `/model/predict`) holds one of gunicorn's threads
for up to a minute. Unbounded, one user with 40 parallel waits took every thread and the
site stopped answering (`/api/health/` took 18.7 s). So a wait first takes a slot:

- at most WAIT_SLOTS_PER_USER waiting requests per user (all web processes together),
- at most WAIT_SLOTS_PER_PROCESS waiting requests in one web process (threads belong to
  a process: the bound keeps the rest of its threads for everything else).

No slot: the request answers at once with what it has (202 / pending). Slots are taken
and checked in one step by `accounts.slots` (atomic across processes and threads) in the
queue's Redis, released in `finally`, and each carries its own expiry, so a process killed
mid-wait cannot leak one: it lapses after the wait's own deadline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator

from django.conf import settings
from redis.exceptions import RedisError

from accounts import slots
from classifier import queueing

logger = logging.getLogger(__name__)

#: extra seconds a slot outlives its wait's deadline, before it counts as leaked
SLOT_GRACE_SECONDS = 30


def _process_key() -> str:
    return f"classifier:wait-slots:process:{socket.gethostname()}:{os.getpid()}"


def _user_key(user_id) -> str:
    return f"classifier:wait-slots:user:{user_id}"


def waiting_now(*, user_id) -> int:
    """How many waits the user holds now (for tests and operators)."""
    connection = queueing.inference_queue().connection
    return slots.taken(connection, _user_key(user_id))


@contextlib.contextmanager
def wait_slot(*, user_id, seconds: float) -> Iterator[bool | None]:
    """Take a slot for a wait of up to `seconds`; yields whether one was granted.

    Redis unreachable: yields None (the wait could not happen anyway: the caller answers
    at once with the stored state, as during any Redis outage).
    """
    connection = queueing.inference_queue().connection
    lifetime = seconds + SLOT_GRACE_SECONDS
    limits = [
        slots.Limit(_user_key(user_id), settings.WAIT_SLOTS_PER_USER, lifetime),
        slots.Limit(_process_key(), settings.WAIT_SLOTS_PER_PROCESS, lifetime),
    ]
    try:
        reservation = slots.reserve(connection, limits)
    except RedisError as error:
        logger.warning("no wait slot, Redis failed: %s", error)
        yield None  # unknown: Redis is down, so there is nothing to wait on either
        return
    if not reservation.granted:
        logger.info("wait refused for user %s: wait slots full", user_id)
    try:
        yield reservation.granted
    finally:
        try:
            reservation.release()
        except RedisError as error:  # the slot lapses by itself at its expiry
            logger.warning("wait slot not released, Redis failed: %s", error)
