"""The system under test: its environment, its database, and a started stack (gunicorn,
one model worker, an embedded Redis)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from benchmarks.load import REPO_ROOT, WORK_DIR
from benchmarks.load.sampling import ProcessSampler, postgres_backends_marker
from benchmarks.load.users import (
    BENCH_ACCOUNTS,
    account_email,
    account_password,
    forget_earlier_uploads,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loadbench"
#: a run's model counters so far (forward passes, images, forward seconds)
Counters = Callable[[], dict[str, float]]


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
        [sys.executable, "-m", "benchmarks.load.users", "create-users", "--count", str(accounts)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=1800,
    )


def bench_environment(database_url: str, model: str, media: str, **extra: str) -> dict[str, str]:
    """Prepare the database (5 accounts) and this process (Django set up) for a benchmark
    of gunicorn + one model worker; the stack's environment."""
    work_dir = WORK_DIR
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
    web_port: int | None = None,
    checkout: Path = REPO_ROOT,
):
    """gunicorn + one `run_model_worker` (+ embedded Redis) of `checkout`, uploads waiting up
    to 120 s; gunicorn on `web_port`, or a free port."""
    from ops.stack import Stack, StackConfig, free_port

    if checkout == REPO_ROOT:
        forget_earlier_uploads()
    else:
        reset_accounts_in(checkout, env)
    config = StackConfig(
        web_port=web_port or free_port(),
        workers=1,
        worker_args=["--model", model, "--batch-size", str(batch_size),
                     "--max-wait-ms", str(max_wait_ms)],
        web_processes=web_processes,
        web_threads=web_threads,
        env={**env, "CLASSIFIER_MODEL": model, "PREDICT_WAIT_SECONDS": "120"},
        log_dir=log_dir,
        ready_timeout=300,
        checkout=checkout,
    )  # fmt: skip
    return Stack(config).start()


# --- another checkout of the project (an A/B against an earlier commit) ----------------------

#: run by the other checkout's `manage.py shell`: its own code creates the benchmark accounts
#: and forgets their uploads (the same as `users.create_accounts` + `forget_earlier_uploads`)
_RESET_ACCOUNTS = """
from accounts import services
from classifier.models import Prediction
for email in {emails!r}:
    try:
        services.register_user(email=email, name="Load test", password={password!r})
    except services.EmailAlreadyRegistered:
        pass
Prediction.objects.filter(owner__email__in={emails!r}).delete()
"""


def reset_accounts_in(checkout: Path, env: dict[str, str]) -> None:
    emails = [account_email(index) for index in range(BENCH_ACCOUNTS)]
    code = _RESET_ACCOUNTS.format(emails=emails, password=account_password())
    manage(env, "shell", "-c", code, cwd=checkout)


def checkout_environment(env: dict[str, str], checkout: Path, name: str) -> dict[str, str]:
    """`env` for a stack of another checkout, prepared by that checkout's own code: its own
    database (this one's name + `_name`, migrated), media, static files and model cache."""
    database_url = f"{env['DATABASE_URL'].rstrip('/')}_{name}"
    work_dir = WORK_DIR / name
    env = {
        **env,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(work_dir / "media"),
        "STATIC_ROOT": str(work_dir / "static"),
        "MODEL_CACHE_DIR": str(work_dir / "model-cache"),
    }
    print(f"Preparing {database_url} with the code of {checkout}…", flush=True)
    ensure_postgres_database(database_url)
    manage(env, "migrate", "--noinput", cwd=checkout)
    manage(env, "collectstatic", "--noinput", cwd=checkout)
    return env


def stack_sampler(stack, this_process: str | None = "load generator") -> ProcessSampler:
    """CPU and memory of the stack's web, workers, Redis and PostgreSQL, and of this process
    (the load generator) under the name `this_process` unless that is None."""
    sampler = ProcessSampler(interval=1.0)
    sampler.add("web", [stack.web.pid], include_children=True)
    sampler.add("workers", [worker.pid for worker in stack.workers])
    if stack.redis is not None:
        sampler.add("redis", [stack.redis.process.pid])
    sampler.add_matching("postgres", postgres_backends_marker(stack.env["DATABASE_URL"]))
    if this_process:
        sampler.add(this_process, [os.getpid()])
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
