"""Counting what a process costs the shared services: SQL statements (by verb) and S3 requests
(by method) made by this process, its CPU (all of it, and its Python threads' own), the
model worker's forward passes, PostgreSQL backends' and Redis servers' CPU, and a throw-away
redis-server to count commands on (`benchmarks.upload_costs`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

SQL = Counter()
S3 = Counter()
#: the worker's forward passes: process CPU and wall seconds inside them, and how many
FORWARD = Counter()
_lock = threading.Lock()


def install_counters() -> None:
    """Count every SQL statement (by verb) and S3 request (by method) this process makes."""
    import botocore.httpsession
    from django.db.backends.signals import connection_created

    def count_sql(execute, sql, params, many, context):
        with _lock:
            SQL[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        if count_sql not in connection.execute_wrappers:
            connection.execute_wrappers.append(count_sql)

    connection_created.connect(on_connection, weak=False)
    send = botocore.httpsession.URLLib3Session.send

    def counted_send(self, request):
        with _lock:
            S3[request.method] += 1
        return send(self, request)

    botocore.httpsession.URLLib3Session.send = counted_send


def snapshot() -> dict:
    with _lock:
        return {
            "sql": dict(SQL),
            "s3": dict(S3),
            "cpu": time.process_time(),
            "python_threads_cpu": python_threads_cpu(),
            "forward": dict(FORWARD),
        }


def python_threads_cpu() -> float:
    """CPU seconds so far of this process's Python threads (not the model runtime's pools)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for thread in threading.enumerate():
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def count_forward_passes() -> None:
    """Time each forward pass of the worker (its process CPU: the model's threads; wall)."""
    from mlworker import jobs

    run_forward = jobs.classify_prediction.forward

    def timed_forward(*args, **kwargs):
        cpu, wall, own = time.process_time(), time.perf_counter(), time.thread_time()
        try:
            return run_forward(*args, **kwargs)
        finally:
            with _lock:
                FORWARD["cpu"] += time.process_time() - cpu
                FORWARD["calling_thread_cpu"] += time.thread_time() - own
                FORWARD["wall"] += time.perf_counter() - wall
                FORWARD["passes"] += 1

    # A frozen dataclass: the benchmark's own wrapper goes in around the product's step.
    object.__setattr__(jobs.classify_prediction, "forward", timed_forward)


def backend_cpu_seconds(cursor) -> dict[int, float]:
    """pid → CPU seconds so far of every PostgreSQL backend connected to this database."""
    cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for (pid,) in cursor.fetchall():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return cpu


def redis_cpu_seconds(server) -> float:
    info = server.client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class RedisServer:
    def __init__(self, name: str, *extra: str):
        from ops.stack import free_port

        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"costs-{name}-")
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, *extra],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def commandstats(self) -> Counter:
        stats = self.client().info("commandstats")
        return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()})

    def stop(self) -> None:
        from ops.stack import stop_process

        stop_process(self.process, grace=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def diff(after: dict, before: dict) -> Counter:
    return Counter({k: after.get(k, 0) - before.get(k, 0) for k in after}) - Counter()


def per_upload(counts: Counter, uploads: int) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v / uploads:.2f}" for k, v in counts.most_common())
    return f"{total / uploads:.2f} ({parts})" if total else "0"
