"""Closed-loop load: clients on keep-alive connections, each uploading a photo nobody sent
before as soon as its previous upload is answered, and what such a run measured."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from benchmarks.load.photos import PhotoPool, multipart_body
from benchmarks.load.sampling import ProcessSampler, percentile
from benchmarks.load.system import Counters, stack_counters, stack_sampler
from benchmarks.load.users import BENCH_ACCOUNTS, log_in


@dataclass
class Outcome:
    seconds: float
    status: int  # 0: the connection failed
    queue_seconds: float | None = None  # created → started, from the prediction
    run_seconds: float | None = None  # started → finished (worker: DB, decode, forward, …)
    model_name: str | None = None  # what answered: model, runtime and precision


class Uploader:
    """One client on a keep-alive connection: each upload is a photo nobody sent before."""

    def __init__(
        self,
        url: str,
        pool: PhotoPool,
        first_photo: int,
        *,
        token: str | None = None,
        path: str = "/api/predictions/",
        field_name: str = "image",
        expect: int = 201,
    ):
        parsed = urlparse(url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, path
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.pool, self.next_photo = pool, first_photo
        self.field_name, self.expect = field_name, expect
        self.connection: http.client.HTTPConnection | None = None

    def upload(self) -> tuple[Outcome, str | None]:
        """Send one upload; the outcome, and what went wrong if it did not answer `expect`."""
        photo = self.pool.unique_jpeg(self.next_photo)
        self.next_photo += 1
        body, content_type = multipart_body(self.field_name, "photo.jpg", photo)
        started = time.monotonic()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.connection.request(
                "POST", self.path, body=body, headers={**self.headers, "Content-Type": content_type}
            )
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return Outcome(time.monotonic() - started, 0), f"{error!r}"
        outcome = Outcome(time.monotonic() - started, response.status)
        if response.status != self.expect:
            return outcome, f"HTTP {response.status}: {payload[:200]!r}"
        answer = json.loads(payload)
        if isinstance(answer, dict) and answer.get("started_at"):  # our API's prediction
            outcome.queue_seconds = answer["wait_seconds"]
            outcome.run_seconds = answer["run_seconds"]
            outcome.model_name = answer.get("model_name")
        return outcome, None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


#: (summary key prefix, sampler group) of the CPU per request a summary reports
CPU_KEYS = (("web", "web"), ("worker", "workers"), ("load_generator", "load generator"),
            ("redis", "redis"), ("postgres", "postgres"))  # fmt: skip


@dataclass
class LoadResult:
    clients: int
    window_seconds: float = 0.0
    ok_status: int = 201
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    resources: dict = field(default_factory=dict)
    model_counters: dict = field(default_factory=dict)

    def add(self, outcome: Outcome, error: str | None) -> None:
        self.outcomes.append(outcome)
        if error:
            self.errors.append(error)

    def summary(self) -> dict:
        succeeded = [o for o in self.outcomes if o.status == self.ok_status]
        latencies = [1000 * o.seconds for o in succeeded]
        queued = [1000 * o.queue_seconds for o in succeeded if o.queue_seconds is not None]
        run = [1000 * o.run_seconds for o in succeeded if o.run_seconds is not None]
        model = self.model_counters
        groups = self.resources.get("groups", {})
        requests = len(self.outcomes)
        cpu_ms = {name: 1000 * g["cpu_seconds"] / max(requests, 1) for name, g in groups.items()}
        return {
            "clients": self.clients,
            "window_seconds": self.window_seconds,
            "requests": requests,
            "failures": requests - len(succeeded),
            "images_per_second": len(succeeded) / self.window_seconds,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "queue_p50_ms": percentile(queued, 50),
            "worker_run_p50_ms": percentile(run, 50),
            "model_names": sorted({o.model_name for o in succeeded if o.model_name}),
            "mean_batch_size": model["images"] / model["forward_passes"]
            if model.get("forward_passes")
            else None,
            "forward_busy_percent": 100 * model["forward_seconds"] / self.window_seconds
            if model
            else None,
            **{f"{key}_cpu_ms_per_request": cpu_ms.get(group) for key, group in CPU_KEYS},
            "cpu_ms_per_request": cpu_ms,
            "cpu_percent": {name: g["cpu_percent"] for name, g in groups.items()},
            "system_cpu_percent": self.resources.get("system_cpu_percent"),
            "rss_mb_per_process": {
                name: g["rss_peak_mb_per_process"] for name, g in groups.items()
            },
            "rss_mb_total": {name: g["rss_peak_mb_total"] for name, g in groups.items()},
            "load_average": self.resources.get("load_average_1min_mean"),
            "errors": sorted(set(self.errors))[:10],
        }


def _counter_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def closed_loop_load(
    uploader: Callable[[int], Uploader],
    *,
    clients: int,
    warmup: float,
    seconds: float,
    sampler: ProcessSampler,
    counters: Counters | None = None,
) -> LoadResult:
    """`clients` threads uploading back to back (`uploader(i)` makes client i); only the
    last `seconds` are measured, CPU by `sampler`, the model's work by `counters`."""
    stop, measuring = threading.Event(), threading.Event()
    first = uploader(0)
    result = LoadResult(clients=clients, ok_status=first.expect)
    lock = threading.Lock()

    def client_loop(client: Uploader) -> None:
        try:
            while not stop.is_set():
                outcome, error = client.upload()
                if measuring.is_set() and not stop.is_set():
                    with lock:
                        result.add(outcome, error)
        finally:
            client.close()

    threads = [
        threading.Thread(target=client_loop, args=(client,), daemon=True, name=f"client-{i}")
        for i, client in enumerate([first, *(uploader(i) for i in range(1, clients))])
    ]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    before = counters() if counters else {}
    sampler.start()
    measuring.set()
    time.sleep(seconds)
    stop.set()
    result.resources = sampler.stop()
    result.model_counters = _counter_delta(before, counters()) if counters else {}
    result.window_seconds = result.resources["window_seconds"]
    for thread in threads:
        thread.join(timeout=150)
    return result


def stack_load(
    stack, uploader: Callable[[int], Uploader], *, clients: int, warmup: float, seconds: float
) -> LoadResult:
    """`closed_loop_load` on a `start_stack` stack, its processes and worker counted."""
    return closed_loop_load(
        uploader,
        clients=clients,
        warmup=warmup,
        seconds=seconds,
        sampler=stack_sampler(stack),
        counters=stack_counters(stack),
    )


def one_client_load(
    client: Uploader,
    *,
    requests: int,
    warmup: int,
    sampler: ProcessSampler,
    counters: Counters | None = None,
) -> LoadResult:
    """One client alone, back to back: the latency a single user sees."""
    for _ in range(warmup):
        client.upload()
    before = counters() if counters else {}
    sampler.start()
    result = LoadResult(clients=1, ok_status=client.expect)
    for _ in range(requests):
        result.add(*client.upload())
    result.resources = sampler.stop()
    result.window_seconds = result.resources["window_seconds"]
    result.model_counters = _counter_delta(before, counters()) if counters else {}
    client.close()
    return result


def stack_uploader(stack, pool: PhotoPool, first_photo: int = 0) -> Callable[[int], Uploader]:
    """Clients for `closed_loop_load`, logged in round robin as the benchmark accounts."""
    tokens = [log_in(stack.url, index) for index in range(BENCH_ACCOUNTS)]
    return lambda i: Uploader(
        stack.url, pool, first_photo + i * 100_000, token=tokens[i % len(tokens)]
    )
