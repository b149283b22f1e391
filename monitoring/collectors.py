"""What `/metrics` reads from Redis when Prometheus scrapes: queue depth, live workers, and
the counters and histograms the workers keep there."""

from __future__ import annotations

import django_rq
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq.worker import Worker

from monitoring.metrics import PREFIX, SHARED_METRICS
from monitoring.shared import SharedMetricsCollector


class QueueCollector(Collector):
    def __init__(self, queue):
        self.queue = queue

    def collect(self):
        depth = GaugeMetricFamily(
            f"{PREFIX}queue_depth", "Jobs waiting in the inference queue.", labels=["queue"]
        )
        depth.add_metric([self.queue.name], self.queue.count)
        yield depth
        workers = GaugeMetricFamily(
            f"{PREFIX}live_workers",
            "Model workers whose heartbeat is current (a dead worker drops out within its TTL).",
            labels=["queue"],
        )
        # Worker keys expire when heartbeats stop; Worker.all skips the expired ones.
        workers.add_metric([self.queue.name], len(Worker.all(queue=self.queue)))
        yield workers


def redis_collectors() -> list[Collector]:
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    return [QueueCollector(queue), SharedMetricsCollector(queue.connection, SHARED_METRICS)]
