"""Measuring: CPU time and resident memory of groups of processes over a window,
percentiles, and back-to-back timing of a model's forward pass."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np


def postgres_backends_marker(database_url: str) -> str:
    """Text in the command line of the PostgreSQL processes serving this database."""
    url = urlparse(database_url)
    return f"{url.username or 'postgres'} {url.path.lstrip('/')} "


def percentile(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return float(np.percentile(np.asarray(ordered), q))


@dataclass
class _Group:
    pids: list[int]
    include_children: bool
    #: instead of fixed pids: every process whose command line contains this text
    cmdline_contains: str | None = None
    cpu_seconds_at_start: dict[int, float] = field(default_factory=dict)
    cpu_seconds_last: dict[int, float] = field(default_factory=dict)
    rss_peak: dict[int, int] = field(default_factory=dict)
    rss_samples: list[int] = field(default_factory=list)


class ProcessSampler:
    """CPU time and resident memory of named groups of processes over a time window.

    CPU comes from the kernel's per-process counters (exact, not sampled); RSS is
    sampled every `interval` seconds. A group is a list of pids, optionally with their
    children (gunicorn's master forks the processes that serve requests).
    """

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.groups: dict[str, _Group] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = self.stopped = 0.0
        self.load_average_samples: list[float] = []
        self._system_cpu_start = None
        self.system_cpu_percent: float | None = None

    def add(self, name: str, pids: list[int], include_children: bool = False) -> None:
        self.groups[name] = _Group(pids=list(pids), include_children=include_children)

    def add_matching(self, name: str, cmdline_contains: str) -> None:
        """Processes found anew at each sample, e.g. the PostgreSQL backends of one database."""
        self.groups[name] = _Group(
            pids=[], include_children=False, cmdline_contains=cmdline_contains
        )

    def _processes(self, group: _Group):
        import psutil

        if group.cmdline_contains is not None:
            for process in psutil.process_iter(["cmdline"]):
                if group.cmdline_contains in " ".join(process.info["cmdline"] or []):
                    yield process
            return
        for pid in group.pids:
            try:
                process = psutil.Process(pid)
                yield process
                if group.include_children:
                    yield from process.children(recursive=True)
            except psutil.NoSuchProcess:
                continue

    def _sample(self, *, first: bool = False) -> None:
        import psutil

        for group in self.groups.values():
            total_rss = 0
            for process in self._processes(group):
                try:
                    with process.oneshot():
                        times = process.cpu_times()
                        rss = process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                cpu = times.user + times.system
                if first or process.pid not in group.cpu_seconds_at_start:
                    group.cpu_seconds_at_start[process.pid] = cpu
                group.cpu_seconds_last[process.pid] = cpu
                group.rss_peak[process.pid] = max(group.rss_peak.get(process.pid, 0), rss)
                total_rss += rss
            group.rss_samples.append(total_rss)
        self.load_average_samples.append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> ProcessSampler:
        import psutil

        self._system_cpu_start = psutil.cpu_times()
        self.started = time.monotonic()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        import psutil

        self._sample()
        self.stopped = time.monotonic()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        end = psutil.cpu_times()
        busy = sum(
            getattr(end, name) - getattr(self._system_cpu_start, name)
            for name in ("user", "system", "nice", "irq", "softirq")
        )
        total = sum(end) - sum(self._system_cpu_start)
        self.system_cpu_percent = 100.0 * busy / total * (os.cpu_count() or 1) if total else None
        return self.summary()

    def summary(self) -> dict:
        wall = max((self.stopped or time.monotonic()) - self.started, 1e-9)
        result = {
            "window_seconds": wall,
            "system_cpu_percent": self.system_cpu_percent,
            "load_average_1min_mean": float(np.mean(self.load_average_samples))
            if self.load_average_samples
            else None,
            "groups": {},
        }
        for name, group in self.groups.items():
            cpu_seconds = sum(
                group.cpu_seconds_last[pid] - group.cpu_seconds_at_start.get(pid, 0.0)
                for pid in group.cpu_seconds_last
            )
            result["groups"][name] = {
                "processes": len(group.rss_peak),
                "cpu_seconds": cpu_seconds,
                "cpu_percent": 100.0 * cpu_seconds / wall,
                "rss_peak_mb_per_process": max(group.rss_peak.values(), default=0) / 2**20,
                "rss_peak_mb_total": max(group.rss_samples, default=0) / 2**20,
            }
        return result


def time_predict_batch(model, inputs, seconds: float, min_runs: int) -> list[float]:
    """Durations of back-to-back `model.predict_batch(inputs)` calls: at least `min_runs`,
    and for at least `seconds`."""
    durations: list[float] = []
    started = time.perf_counter()
    while len(durations) < min_runs or time.perf_counter() - started < seconds:
        before = time.perf_counter()
        model.predict_batch(inputs)
        durations.append(time.perf_counter() - before)
    return durations
