"""The one rule for "a live model worker", shared by health (ops) and /metrics (monitoring).

It lives here because monitoring is the lowest app both may import (pyproject's contracts).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from rq.queue import Queue
from rq.utils import now
from rq.worker import BaseWorker, Worker


def live_workers(queue: Queue, *, name_prefix: str = "") -> list[BaseWorker]:
    """Workers of `queue` that heart-beat within the last two heartbeat periods.

    A worker's key outlives its process (it lasts as long as the leases of its jobs), so
    counting keys would keep a killed worker alive for a minute; its `last_heartbeat` stops
    at once, so by that it counts dead within two periods (`WORKER_HEARTBEAT_SECONDS`).
    """
    cutoff = now() - timedelta(seconds=2 * settings.WORKER_HEARTBEAT_SECONDS)
    return [
        worker
        for worker in Worker.all(queue=queue)
        if worker.name.startswith(name_prefix)
        and worker.last_heartbeat is not None
        and worker.last_heartbeat >= cutoff
    ]
