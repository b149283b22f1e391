"""Counters and histograms kept in Redis, so every worker on every host adds to one total.

Model workers are many processes on possibly many machines, and they come and go; a
per-process metrics port would need Prometheus to discover each of them. Instead each
worker adds its observations to Redis hashes, in the pipeline that already finishes its
batch (a few HINCRBY per batch, none per request), and the web's `/metrics` reads them
back at scrape time (`SharedMetricsCollector`). One scrape target sees the whole fleet;
a worker that dies keeps its contribution. Losing Redis data resets these counters,
which Prometheus's rate() treats like any restart.

Layout: one hash per metric, `metrics:<name>`; fields are the label values joined by
"\\x1f", plus "\\x1f<bucket index>" for histogram buckets and "\\x1fsum" for their sum.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

KEY_PREFIX = "metrics:"
SEPARATOR = "\x1f"


def _field(values: Iterable[str], suffix: str | None = None) -> str:
    parts = list(values)
    if suffix is not None:
        parts.append(suffix)
    return SEPARATOR.join(parts)


class SharedMetric:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()):
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.key = f"{KEY_PREFIX}{name}"

    def _label_values(self, labels: dict[str, str]) -> list[str]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return [str(labels[name]) for name in self.labelnames]


class SharedCounter(SharedMetric):
    kind = "counter"

    def inc(self, pipeline, amount: float = 1, **labels: str) -> None:
        """Queue the increment on `pipeline` (or any Redis client)."""
        pipeline.hincrbyfloat(self.key, _field(self._label_values(labels)), amount)

    def family(self, raw: dict[bytes, bytes]) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for field, value in sorted(raw.items()):
            values = field.decode().split(SEPARATOR) if self.labelnames else []
            family.add_metric(values, float(value))
        return family


class SharedHistogram(SharedMetric):
    kind = "histogram"

    def __init__(self, name, documentation, labelnames=(), *, buckets: Iterable[float]):
        super().__init__(name, documentation, labelnames)
        self.buckets = sorted(float(b) for b in buckets if not math.isinf(float(b)))

    def observe(self, pipeline, value: float, **labels: str) -> None:
        self.observe_many(pipeline, [value], **labels)

    def observe_many(self, pipeline, values: Iterable[float], **labels: str) -> None:
        """Queue the observations, aggregated: one HINCRBY per bucket touched, one for the sum."""
        label_values = self._label_values(labels)
        per_bucket: dict[int, int] = {}
        total = 0.0
        for value in values:
            index = bisect.bisect_left(self.buckets, value)  # le semantics: value <= bound
            per_bucket[index] = per_bucket.get(index, 0) + 1
            total += value
        if not per_bucket:
            return
        for index, count in per_bucket.items():
            pipeline.hincrby(self.key, _field(label_values, str(index)), count)
        pipeline.hincrbyfloat(self.key, _field(label_values, "sum"), total)

    def family(self, raw: dict[bytes, bytes]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        series: dict[tuple[str, ...], dict[str, float]] = {}
        for field, value in raw.items():
            *label_values, suffix = field.decode().split(SEPARATOR)
            series.setdefault(tuple(label_values), {})[suffix] = float(value)
        for label_values, fields in sorted(series.items()):
            cumulative = 0.0
            buckets = []
            for index, bound in enumerate([*self.buckets, math.inf]):
                cumulative += fields.get(str(index), 0.0)
                buckets.append((_bound_text(bound), cumulative))
            family.add_metric(list(label_values), buckets, fields.get("sum", 0.0))
        return family


def _bound_text(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class SharedMetricsCollector(Collector):
    """Reads the shared metrics from Redis at scrape time (one round trip for all of them)."""

    def __init__(self, connection, metrics: Iterable[SharedMetric]):
        self.connection = connection
        self.metrics = list(metrics)

    def collect(self):
        with self.connection.pipeline(transaction=False) as pipeline:
            for metric in self.metrics:
                pipeline.hgetall(metric.key)
            raws = pipeline.execute()
        for metric, raw in zip(self.metrics, raws, strict=True):
            yield metric.family(raw)
