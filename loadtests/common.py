"""Shared by the load-test tools: test photos, accounts, the stack's environment, sampling.

Everything here runs outside the measured code paths: photos are prepared before a run
starts, accounts are created straight in the database (the register endpoint is
throttled), and the process sampler reads /proc about once a second.

    python -m loadtests.common create-users --count 60   # accounts for a hand-run locust
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loadbench"
ACCOUNT_EMAIL_PATTERN = "loadtest-{index:03d}@example.com"
# Only ever set on the throw-away load-test accounts; override with LOADTEST_PASSWORD.
DEFAULT_ACCOUNT_PASSWORD = "violet-harbour-7392"
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


def ensure_postgres_database(database_url: str) -> None:
    """Create the database named in a postgres:// URL if it does not exist yet."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return
    from urllib.parse import urlparse

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
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> None:
    """Run `manage.py <args>` with the stack's environment; raise if it fails."""
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
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
        [sys.executable, "-m", "loadtests.common", "create-users", "--count", str(accounts)],
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


# --- measuring ------------------------------------------------------------------------------


def postgres_backends_marker(database_url: str) -> str | None:
    """Text in the command line of the PostgreSQL processes serving this database."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return None
    from urllib.parse import urlparse

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
            "LOADTEST_PASSWORD or the default in loadtests/common.py"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
