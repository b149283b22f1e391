"""Read-only view of the serving system's health: database, Redis, workers, queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection
from redis.exceptions import RedisError

from monitoring.workers import live_workers


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
