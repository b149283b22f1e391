"""What one upload costs the shared services, counted: SQL statements and rows, Redis commands
(queue and cache, each its own server), object-store requests; plus CPU, timed.

Counts are what docs/SCALING.md sizes PostgreSQL, Redis and the object store with: they do
not depend on how busy the machine is. Every service is this run's own: two redis-servers
on free ports (queue: noeviction; cache), a SeaweedFS S3 server, a throw-away PostgreSQL
database made from DATABASE_URL. The web side is Django's test client in this process
(JWT-authenticated API uploads of photos nobody sent before, waiting for the answer: the
201 path); the model worker is a real `run_model_worker` process (ResNet50, random weights,
TensorFlow: the counts do not depend on the model). Two phases: one client (every batch
holds one image) and 16 clients at once (batches fill).

    .venv/bin/python -m benchmarks.upload_costs --uploads 100

CPU per upload outside the forward pass, by who spends it: the web (this process: Django's
test client and the request), the worker without its forward passes (process CPU around each
forward pass is subtracted; of that, its Python threads' share apart from the model
runtime's own thread pools, which keep spinning a little after each pass), PostgreSQL (the
CPU of this database's backends, from /proc, sampled before the phase and while its clients
still hold their connections) and Redis (each server's own `used_cpu_*`, the idle worker's
share subtracted). The one-client phase also gives a lone user's latency (p50, p90 of the
POST that waits for the answer) beside the worker's forward pass of one image (wall).

SQL is counted by a wrapper on every database connection of both processes (statements by
verb); rows by PostgreSQL's own pg_stat_database; Redis by each server's INFO commandstats
(the worker's idle polling and heartbeats, measured before the phases, are subtracted); S3
by a hook on botocore's HTTP send in both processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.load.counters import (
    RedisServer,
    backend_cpu_seconds,
    count_forward_passes,
    diff,
    install_counters,
    per_upload,
    redis_cpu_seconds,
    snapshot,
)


def run_worker_with_counters(out: Path) -> None:
    """The worker process: counters on, then the worker. A snapshot is written when asked
    (`<out>.ask` appears; gone once the snapshot is written): writing one every fraction
    of a second cost the worker ~1 ms of CPU per upload, counted as its own."""
    import django

    django.setup()
    install_counters()
    count_forward_passes()
    ask = out.with_suffix(".ask")

    def dump():
        while True:
            if ask.exists():
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(snapshot()))
                tmp.replace(out)
                ask.unlink()
            time.sleep(0.05)

    threading.Thread(target=dump, daemon=True).start()
    from django.core.management import call_command

    call_command("run_model_worker")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=100, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--worker-counters", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_counters:
        run_worker_with_counters(args.worker_counters)
        return 0

    # Every server and process this run starts is stopped however the run ends: each stop
    # is registered as soon as its thing runs, and all of them run even if one fails.
    with contextlib.ExitStack() as cleanup:
        measure(args, cleanup)
    return 0


def measure(args, cleanup: contextlib.ExitStack) -> None:
    from ops.stack import stop_process, wait_until
    from testing.seaweedfs import SeaweedS3

    queue_redis = RedisServer("queue", "--maxmemory-policy", "noeviction")
    cleanup.callback(queue_redis.stop)
    cache_redis = RedisServer("cache", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    cleanup.callback(cache_redis.stop)
    store = SeaweedS3().start()
    cleanup.callback(store.close)
    work = Path(tempfile.mkdtemp(prefix="upload-costs-"))
    cleanup.callback(shutil.rmtree, work, ignore_errors=True)
    os.environ.update(
        {
            "DATABASE_URL": os.environ.get(
                "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loadbench"
            ),
            "REDIS_URL": queue_redis.url,
            "CACHE_REDIS_URL": cache_redis.url,
            "DEBUG": "0",
            "HTTPS": "0",
            "SECRET_KEY": "upload-costs-" + "x" * 50,
            "ALLOWED_HOSTS": "testserver",
            "MEDIA_ROOT": str(work / "media"),
            "WAIT_SLOTS_PER_PROCESS": "64",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **store.settings_env(prefix="costs"),
        }
    )
    import django

    django.setup()
    install_counters()
    from django.db import connection
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases
    from rest_framework.test import APIClient

    from classifier.steps import recording_steps
    from testing.live_stack import subprocess_env
    from testing.photos import distinct_photo

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    cleanup.callback(teardown_databases, databases, verbosity=0)

    def end_sessions():  # the client threads' kept-alive sessions, before the drop
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()

    cleanup.callback(end_sessions)
    from accounts.models import User

    clients = []
    for number in range(args.clients):
        email, password = f"costs{number}@example.com", "correct-horse-42"
        User.objects.create_user(email=email, password=password, name=f"c{number}")
        client = APIClient()
        token = client.post("/api/auth/token/", {"email": email, "password": password})
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
        clients.append(client)
    unique: dict[bytes, None] = {}  # new bytes for every upload: no dedup, no cached answer
    seed = 0
    while len(unique) < 2 * args.uploads + args.clients + 3:
        unique.setdefault(distinct_photo(seed))
        seed += 1
    photos = iter(list(unique))

    counters_file = work / "worker-counters.json"
    env = {
        **os.environ,
        **subprocess_env(INFERENCE_RUNTIME="tensorflow", TF_INTRA_OP_THREADS="2"),
        "DEBUG": "0",
        "REDIS_URL": queue_redis.url,
        "CACHE_REDIS_URL": cache_redis.url,
    }
    log = open(work / "worker.log", "wb")  # noqa: SIM115 (closed with the process)
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.upload_costs", "--worker-counters", counters_file],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cleanup.callback(stop_process, worker, grace=30)  # SIGTERM: the worker's own stop

    def worker_snapshot() -> dict:
        ask = counters_file.with_suffix(".ask")
        ask.touch()
        wait_until(lambda: not ask.exists(), timeout=30, interval=0.02, what="worker counters")
        return json.loads(counters_file.read_text())

    latencies: list[float] = []

    def upload(client) -> int:
        from django.core.files.uploadedfile import SimpleUploadedFile

        content = next(photos)
        started = time.perf_counter()
        response = client.post("/api/predictions/", {"image": SimpleUploadedFile("p.jpg", content)})
        latencies.append(time.perf_counter() - started)
        return response.status_code

    wait_until(
        lambda: clients[0].get("/api/health/").json()["live_workers"] >= 1,
        timeout=300,
        interval=1.0,
        what="the model worker",
    )
    upload(clients[0])  # warm: the first batch builds the model's graph

    # The worker's idle cost (heartbeats, blocking polls), to subtract from the phases.
    before = {"queue": queue_redis.commandstats(), "cache": cache_redis.commandstats()}
    redis_cpu_before = redis_cpu_seconds(queue_redis) + redis_cpu_seconds(cache_redis)
    idle_started = time.monotonic()
    time.sleep(10)
    idle_seconds = time.monotonic() - idle_started
    idle_rate = {
        "queue": diff(queue_redis.commandstats(), before["queue"]),
        "cache": diff(cache_redis.commandstats(), before["cache"]),
    }
    redis_idle_cpu_rate = (
        redis_cpu_seconds(queue_redis) + redis_cpu_seconds(cache_redis) - redis_cpu_before
    ) / idle_seconds
    for name, counts in idle_rate.items():
        rate = sum(counts.values()) / idle_seconds
        print(f"one idle worker, {idle_seconds:.1f} s: Redis {name} {rate:.1f} commands/s")

    def rows() -> dict:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tup_inserted, tup_updated, tup_deleted, xact_commit "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
            names = ("inserted", "updated", "deleted", "commits")
            return dict(zip(names, cursor.fetchone(), strict=True))

    for label, concurrency in (("1 client", 1), (f"{args.clients} clients", args.clients)):
        with recording_steps() as steps, ThreadPoolExecutor(concurrency) as pool:
            # Unmeasured: each new thread's first upload opens its own database, Redis and
            # S3 connections (kept by a web server's threads, not paid per upload).
            list(pool.map(upload, clients[:concurrency]))
            steps.clear()
            with connection.cursor() as cursor:
                pg0 = backend_cpu_seconds(cursor)
            web0, worker0 = snapshot(), worker_snapshot()
            redis0 = {"queue": queue_redis.commandstats(), "cache": cache_redis.commandstats()}
            redis_cpu0 = redis_cpu_seconds(queue_redis) + redis_cpu_seconds(cache_redis)
            memory0 = queue_redis.client().info("memory")["used_memory"]
            rows0 = rows()
            latencies.clear()
            started = time.monotonic()
            statuses = Counter(
                pool.map(upload, [clients[n % concurrency] for n in range(args.uploads)])
            )
            seconds = time.monotonic() - started
            web1, worker1 = snapshot(), worker_snapshot()
            # Before the pool's threads end: their backends still run (CONN_MAX_AGE).
            with connection.cursor() as cursor:
                pg1 = backend_cpu_seconds(cursor)
        redis_cpu1 = redis_cpu_seconds(queue_redis) + redis_cpu_seconds(cache_redis)
        redis1 = {"queue": queue_redis.commandstats(), "cache": cache_redis.commandstats()}
        memory1 = queue_redis.client().info("memory")["used_memory"]
        # Idle sessions hand their counts to pg_stat_database within PostgreSQL's idle
        # flush interval (10 s, PGSTAT_IDLE_INTERVAL); this one's when it ends.
        connection.close()
        time.sleep(11)
        rows1 = rows()
        n = args.uploads
        lines = {
            "SQL statements, web": per_upload(diff(web1["sql"], web0["sql"]), n),
            "SQL statements, worker": per_upload(diff(worker1["sql"], worker0["sql"]), n),
            "PostgreSQL rows (pg_stat_database)": ", ".join(
                f"{key} {(rows1[key] - rows0[key]) / n:.2f}" for key in rows0
            ),
        }
        for name in ("queue", "cache"):
            idle = Counter(
                {k: round(v * seconds / idle_seconds) for k, v in idle_rate[name].items()}
            )
            measured = diff(redis1[name], redis0[name]) - idle
            lines[f"Redis {name} commands (worker idle cost subtracted)"] = per_upload(measured, n)
        # A finished job stays (its hash and result) for result_ttl: this is per upload kept.
        lines["queue Redis memory held, bytes"] = f"{(memory1 - memory0) / n:.0f}"
        lines["S3 requests, web"] = per_upload(diff(web1["s3"], web0["s3"]), n)
        lines["S3 requests, worker"] = per_upload(diff(worker1["s3"], worker0["s3"]), n)
        lines["CPU ms (timed, noisy): web in process (test client included)"] = (
            f"{(web1['cpu'] - web0['cpu']) * 1000 / n:.1f}"
        )
        lines["CPU ms (timed, noisy): worker (model included)"] = (
            f"{(worker1['cpu'] - worker0['cpu']) * 1000 / n:.1f}"
        )
        forward = diff(worker1["forward"], worker0["forward"])
        cpu_ms = {
            "web (in process, test client included)": (web1["cpu"] - web0["cpu"]) * 1000 / n,
            "worker outside the forward pass": (worker1["cpu"] - worker0["cpu"] - forward["cpu"])
            * 1000
            / n,
            "  of it, the worker's Python threads (RQ, Redis, SQL, S3, decoding)": (
                worker1["python_threads_cpu"]
                - worker0["python_threads_cpu"]
                - forward.get("calling_thread_cpu", 0.0)
            )
            * 1000
            / n,
            "PostgreSQL (this database's backends)": sum(
                cpu - pg0.get(pid, 0.0) for pid, cpu in pg1.items()
            )
            * 1000
            / n,
            "Redis (queue + cache, idle worker's share subtracted)": (
                redis_cpu1 - redis_cpu0 - redis_idle_cpu_rate * seconds
            )
            * 1000
            / n,
        }
        print(f"\n== {label}: {n} uploads in {seconds:.1f} s, answers {dict(statuses)}")
        for what, figure in lines.items():
            print(f"per upload, {what}: {figure}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("CPU ms per upload outside the forward pass:")
        for what, figure in cpu_ms.items():
            print(f"  {what}: {figure:.2f}")
        total = sum(figure for what, figure in cpu_ms.items() if not what.startswith(" "))
        print(f"  total: {total:.2f}")
        passes = forward.get("passes", 0)
        if passes:
            print(
                f"forward passes: {passes}, {forward['wall'] * 1000 / passes:.1f} ms wall and "
                f"{forward['cpu'] * 1000 / passes:.1f} ms CPU each, "
                f"{forward['cpu'] * 1000 / n:.1f} ms CPU per upload"
            )
        if concurrency == 1:
            print("web steps (classifier.steps; thread CPU ms per upload, nested):")
            spent: Counter = Counter()
            for timing in steps:
                spent[timing.path] += timing.cpu_seconds
            for path in sorted(spent):
                print(f"  {'  ' * (len(path) - 1)}{path[-1]}: {spent[path] * 1000 / n:.2f}")
            ordered = sorted(latencies)
            p50 = ordered[len(ordered) // 2] * 1000
            p90 = ordered[int(len(ordered) * 0.9)] * 1000
            print(
                f"a lone user's upload, waiting for the answer: p50 {p50:.1f} ms, p90 {p90:.1f} ms"
            )


if __name__ == "__main__":
    sys.exit(main())
