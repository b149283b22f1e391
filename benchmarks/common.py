"""Shared by the load-test tools: test photos, accounts, the stack's environment, sampling.

Everything here runs outside the measured code paths: photos are prepared before a run
starts, accounts are created straight in the database (the register endpoint is
throttled), and the process sampler reads /proc about once a second.

    python -m benchmarks.common create-users --count 60   # accounts for a hand-run locust
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loadbench"
ACCOUNT_EMAIL_PATTERN = "loadtest-{index:03d}@example.com"
# Only ever set on the throw-away load-test accounts; override with LOADTEST_PASSWORD.
DEFAULT_ACCOUNT_PASSWORD = "violet-harbour-7392"
BENCH_ACCOUNTS = 5  # accounts a benchmark logs in as, round robin
# Logged by the locustfile when the measured window starts; the scenario runner waits for it.
MEASUREMENT_STARTED = "load test: every user has logged in; statistics reset"

# Colour photos shipped with scikit-image and scikit-learn (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def account_password() -> str:
    return os.environ.get("LOADTEST_PASSWORD", DEFAULT_ACCOUNT_PASSWORD)


def account_email(index: int) -> str:
    return ACCOUNT_EMAIL_PATTERN.format(index=index)


# --- photos -------------------------------------------------------------------------------


def source_photos() -> list[np.ndarray]:
    """The bundled sample photos as RGB uint8 arrays."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    photos = [np.asarray(getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    photos += [np.asarray(load_sample_image(name)) for name in SKLEARN_PHOTOS]
    return [photo[..., :3] for photo in photos]


def insert_jpeg_comment(jpeg: bytes, comment: bytes) -> bytes:
    """The same picture with a COM segment after the SOI marker: new bytes, no re-encode."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


@dataclass
class PhotoPool:
    """Random crops of the sample photos, resized to web-photo sizes, ready to encode.

    `fresh_jpeg` re-crops and re-encodes a pool member and stamps a unique comment in
    it, so no two uploads carry the same bytes and the result cache never answers.
    `encoded` holds one ready JPEG per member for generators that must stay cheap.
    """

    images: list
    encoded: list[bytes]
    rng: np.random.Generator
    _serial: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, size: int, *, seed: int = 0, long_side: tuple[int, int] = (320, 640)):
        from PIL import Image

        rng = np.random.default_rng(seed)
        photos = source_photos()
        images, encoded = [], []
        for index in range(size):
            pixels = photos[index % len(photos)]
            height, width = pixels.shape[:2]
            crop_height = int(height * rng.uniform(0.6, 1.0))
            crop_width = int(width * rng.uniform(0.6, 1.0))
            top = int(rng.integers(0, height - crop_height + 1))
            left = int(rng.integers(0, width - crop_width + 1))
            image = Image.fromarray(pixels[top : top + crop_height, left : left + crop_width])
            target = int(rng.integers(long_side[0], long_side[1] + 1))
            scale = target / max(image.size)
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
            images.append(image)
            encoded.append(encode_jpeg(image, quality=int(rng.integers(80, 96))))
        return cls(images=images, encoded=encoded, rng=rng)

    def _next_tag(self) -> bytes:
        with self._lock:
            self._serial += 1
            serial = self._serial
        return f"loadtest {os.getpid()} {serial} {secrets.token_hex(4)}".encode()

    def fresh_jpeg(self) -> bytes:
        """A newly cropped and encoded photo that has never been uploaded."""
        with self._lock:
            index = int(self.rng.integers(len(self.images)))
            trim = self.rng.integers(0, 12, size=4)
            quality = int(self.rng.integers(80, 96))
        image = self.images[index]
        box = (trim[0], trim[1], image.width - trim[2], image.height - trim[3])
        return encode_jpeg(image.crop(tuple(int(v) for v in box)), quality, self._next_tag())

    def unique_jpeg(self, index: int) -> bytes:
        """Pool member `index` (mod size) with a unique comment: distinct bytes, ~no CPU."""
        return insert_jpeg_comment(self.encoded[index % len(self.encoded)], self._next_tag())


def encode_jpeg(image, quality: int = 90, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, comment=comment)
    return buffer.getvalue()


def multipart_body(field_name: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file; returns (body, content type)."""
    boundary = secrets.token_hex(16)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


# --- the system under test -----------------------------------------------------------------


def stack_environment(
    *, database_url: str, model: str, media_root: Path, static_root: Path, extra: dict | None = None
) -> dict[str, str]:
    """Environment for web and workers during a measured run.

    DEBUG is off (with DEBUG on Django keeps every SQL query in memory), throttles are
    lifted so every simulated user can log in from 127.0.0.1, HTTPS redirects are off
    because the load generator speaks plain HTTP to 127.0.0.1. The wait bounds
    (WAIT_SLOTS_*) are lifted too: a measured run keeps as many uploads waiting as it has
    clients, and sizes gunicorn's threads for that itself.
    """
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "HTTPS": "0",
        "SECRET_KEY": "load-test-only-" + secrets.token_hex(16),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(static_root),
        "CLASSIFIER_MODEL": model,
        "RESNET50_WEIGHTS": "random",
        "THROTTLE_LOGIN": "100000/min",
        "THROTTLE_LOGIN_ACCOUNT": "100000/min",
        "THROTTLE_UPLOADS": "1000000/min",
        "WAIT_SLOTS_PER_USER": "100000",
        "WAIT_SLOTS_PER_PROCESS": "100000",
        "LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


def tensorflow_threads(workers: int, cores: int | None = None) -> dict[str, str]:
    """Thread pools that share the host's cores among the workers instead of oversubscribing."""
    cores = cores or os.cpu_count() or 1
    return {
        "TF_INTRA_OP_THREADS": str(max(1, cores // max(workers, 1))),
        "TF_INTER_OP_THREADS": "1",
    }


def ensure_postgres_database(database_url: str, *, fresh: bool = False) -> None:
    """Create the database named in a postgres:// URL if it does not exist yet (`fresh`:
    drop it first)."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg2

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    connection = psycopg2.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname="postgres",
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            if fresh:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def manage(env: dict[str, str], *args: str, timeout: float = 600, cwd: Path = REPO_ROOT) -> None:
    """Run `manage.py <args>` (of the checkout `cwd`) with the stack's environment; raise if
    it fails."""
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env={**os.environ, **env},
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )


def prepare_database(env: dict[str, str], *, accounts: int) -> None:
    """Migrate, collect static files (DEBUG is off) and create the load-test accounts."""
    ensure_postgres_database(env["DATABASE_URL"])
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    subprocess.run(
        [sys.executable, "-m", "benchmarks.common", "create-users", "--count", str(accounts)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=1800,
    )


def create_accounts(count: int) -> int:
    """Create loadtest-000@example.com … with the test password; return how many were new.

    Goes through `accounts.services.register_user`, the API's own rules, but not through
    the HTTP endpoint, whose rate limit would stop a run before it starts.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from accounts import services

    created = 0
    for index in range(count):
        try:
            services.register_user(
                email=account_email(index), name=f"Load test {index}", password=account_password()
            )
            created += 1
        except services.EmailAlreadyRegistered:
            pass
    return created


def forget_earlier_uploads() -> int:
    """Delete what the load-test accounts uploaded in earlier runs (needs Django set up).

    Each run starts a fresh Redis, which knows nothing of an earlier run's unfinished
    predictions; the worker's recovery sweep would queue them again and the scenario
    would spend model time on images nobody waits for. Their feedback goes with them.
    """
    from classifier.models import Prediction

    deleted, _ = Prediction.objects.filter(
        owner__email__startswith=ACCOUNT_EMAIL_PATTERN.split("{")[0]
    ).delete()
    return deleted


# --- closed-loop load ------------------------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    status: int  # 0: the connection failed
    queue_seconds: float | None = None  # created → started, from the prediction
    run_seconds: float | None = None  # started → finished (worker: DB, decode, forward, …)


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


Counters = Callable[[], dict[str, float]]


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


def bench_environment(database_url: str, model: str, media: str, **extra: str) -> dict[str, str]:
    """Prepare the database (5 accounts) and this process (Django set up) for a benchmark
    of gunicorn + one model worker; the stack's environment."""
    work_dir = REPO_ROOT / ".run" / "benchmarks"
    env = {
        **stack_environment(
            database_url=database_url,
            model=model,
            media_root=work_dir / media,
            static_root=work_dir / "static",
        ),
        **tensorflow_threads(workers=1),
        "MODEL_CACHE_DIR": str(work_dir / "model-cache"),
        **extra,
    }
    print(f"Preparing {database_url}…", flush=True)
    prepare_database(env, accounts=BENCH_ACCOUNTS)
    os.environ.update(env)
    import django

    django.setup()  # for the worker's statistics (mlworker.batch.read_model_counters)
    return env


def start_stack(
    env: dict[str, str],
    *,
    model: str,
    batch_size: int,
    max_wait_ms: float,
    log_dir: Path,
    web_processes: int = 1,
    web_threads: int = 64,
):
    """gunicorn + one `run_model_worker` (+ embedded Redis), uploads waiting up to 120 s."""
    from ops.stack import Stack, StackConfig, free_port

    forget_earlier_uploads()
    config = StackConfig(
        web_port=free_port(),
        workers=1,
        worker_args=["--model", model, "--batch-size", str(batch_size),
                     "--max-wait-ms", str(max_wait_ms)],
        web_processes=web_processes,
        web_threads=web_threads,
        env={**env, "CLASSIFIER_MODEL": model, "PREDICT_WAIT_SECONDS": "120"},
        log_dir=log_dir,
        ready_timeout=300,
    )  # fmt: skip
    return Stack(config).start()


def log_in(url: str, index: int) -> str:
    """An access token for load-test account `index`."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    credentials = {"email": account_email(index), "password": account_password()}
    connection.request(
        "POST", "/api/auth/token/", json.dumps(credentials), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"login failed: HTTP {response.status} {payload[:200]!r}")
    return json.loads(payload)["access"]


def stack_uploader(stack, pool: PhotoPool, first_photo: int = 0) -> Callable[[int], Uploader]:
    """Clients for `closed_loop_load`, logged in round robin as the benchmark accounts."""
    tokens = [log_in(stack.url, index) for index in range(BENCH_ACCOUNTS)]
    return lambda i: Uploader(
        stack.url, pool, first_photo + i * 100_000, token=tokens[i % len(tokens)]
    )


def stack_sampler(stack) -> ProcessSampler:
    """CPU and memory of the stack's web, workers, Redis and PostgreSQL, and of this process."""
    sampler = ProcessSampler(interval=1.0)
    sampler.add("web", [stack.web.pid], include_children=True)
    sampler.add("workers", [worker.pid for worker in stack.workers])
    if stack.redis is not None:
        sampler.add("redis", [stack.redis.process.pid])
    marker = postgres_backends_marker(stack.env["DATABASE_URL"])
    if marker:
        sampler.add_matching("postgres", marker)
    sampler.add("load generator", [os.getpid()])
    return sampler


def stack_counters(stack) -> Counters:
    """The worker's forward passes, images and forward seconds so far (for `closed_loop_load`)."""
    import redis

    from mlworker.batch import read_model_counters

    def read() -> dict[str, float]:
        connection = redis.Redis.from_url(stack.env["REDIS_URL"])
        try:
            stats = read_model_counters(connection)
        finally:
            connection.close()
        return {key: stats.get(key, 0.0) for key in ("forward_passes", "images", "forward_seconds")}

    return read


# --- measuring ------------------------------------------------------------------------------


def postgres_backends_marker(database_url: str) -> str | None:
    """Text in the command line of the PostgreSQL processes serving this database."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return None
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


def host_description() -> dict:
    import psutil

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model or platform.processor(),
        "logical_cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


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


def run_record(run_name: str) -> dict:
    """What every results file starts with: which run, how it was started, on what."""
    return {
        "run": run_name,
        "command": command_line(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "host": host_description(),
    }


def fmt(value, digits: int = 1, unit: str = "") -> str:
    """A figure for a table or a progress line; "–" when it was not measured."""
    if value is None:
        return "–"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def command_line() -> str:
    """This process's command line, as someone would type it from the repository root."""
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(REPO_ROOT):
        interpreter = interpreter.relative_to(REPO_ROOT)
    return " ".join([str(interpreter), *sys.argv])


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("django", "rq", "redis", "tensorflow-cpu", "keras", "locust", "gunicorn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-users", help="create the load-test accounts")
    create.add_argument("--count", type=int, default=60)
    args = parser.parse_args(argv)
    if args.command == "create-users":
        created = create_accounts(args.count)
        print(
            f"{created} new load-test accounts ({args.count} wanted), password from "
            "LOADTEST_PASSWORD or the default in benchmarks/common.py"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
