"""Read-only view of the serving system's health: database, Redis, workers, queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection
from redis.exceptions import RedisError
from rq.queue import Queue
from rq.utils import now
from rq.worker import BaseWorker, Worker


@dataclass
class SystemHealth:
    database: bool = False
    redis: bool = False
    live_workers: int = 0
    queue_depth: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def live_workers(queue: Queue, *, name_prefix: str = "") -> list[BaseWorker]:
    """Workers of `queue` that heart-beat within the last two heartbeat periods.

    A worker's key outlives its process (it lasts as long as the leases of its jobs), so
    a killed worker would count for a minute; its `last_heartbeat` stops at once, so by
    that it counts dead within two periods (`WORKER_HEARTBEAT_SECONDS`).
    """
    cutoff = now() - timedelta(seconds=2 * settings.WORKER_HEARTBEAT_SECONDS)
    return [
        worker
        for worker in Worker.all(queue=queue)
        if worker.name.startswith(name_prefix)
        and worker.last_heartbeat is not None
        and worker.last_heartbeat >= cutoff
    ]


def system_health() -> SystemHealth:
    health = SystemHealth()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        health.database = True
    except DatabaseError:
        health.problems.append("database unreachable")
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    try:
        queue.connection.ping()
        health.redis = True
        health.queue_depth = queue.count
        health.live_workers = len(live_workers(queue))
    except RedisError:
        health.problems.append("redis unreachable")
        return health
    if health.live_workers == 0:
        health.problems.append("no model worker running")
    return health
