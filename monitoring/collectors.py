"""What `/metrics` reads from Redis when Prometheus scrapes: queue depth, live workers, and
the counters and histograms the workers keep there."""

from __future__ import annotations

import django_rq
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitoring.metrics import PREFIX, SHARED_METRICS
from monitoring.shared import SharedMetricsCollector
from monitoring.workers import live_workers


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
            "Model workers that heart-beat within two heartbeat periods (as /api/health/ counts).",
            labels=["queue"],
        )
        workers.add_metric([self.queue.name], len(live_workers(self.queue)))
        yield workers


def redis_collectors() -> list[Collector]:
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    return [QueueCollector(queue), SharedMetricsCollector(queue.connection, SHARED_METRICS)]
