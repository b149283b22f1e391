"""The quick start (`manage.py run_stack`) replaces a model or training worker that died."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from ops.stack import free_port, wait_until
from testing.live_stack import subprocess_env

pytestmark = [pytest.mark.slow]


def health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=5) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        return json.load(error)
    except (OSError, ValueError):
        return None


def live_worker_pids(queue) -> set[int]:
    from monitoring.workers import live_workers

    return {worker.pid for worker in live_workers(queue)}


def running_training_worker_pids(settings) -> set[int]:
    """PIDs of live processes registered as RQ workers on the training queue (a killed one
    stays registered until its heartbeat lapses, so each PID is checked)."""
    import django_rq
    from rq import Worker

    queue = django_rq.get_queue(settings.TRAINING_QUEUE)
    alive = set()
    for worker in Worker.all(queue=queue):
        try:
            os.kill(worker.pid, 0)
        except (ProcessLookupError, TypeError):
            continue
        alive.add(worker.pid)
    return alive


def test_run_stack_restarts_a_worker_that_was_killed(transactional_db, settings, tmp_path):
    """Both the model worker and the training runs' worker are supervised."""
    import django_rq

    settings.WORKER_HEARTBEAT_SECONDS = 2
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    port = free_port()
    log = open(tmp_path / "run_stack.log", "ab")  # noqa: SIM115 (closed with the process)
    command = [sys.executable, "manage.py", "run_stack", "--port", str(port)]
    command += ["--web-threads", "4", "--log-dir", str(tmp_path / "logs")]
    stack = subprocess.Popen(
        command,
        cwd=settings.BASE_DIR,
        env={**os.environ, **subprocess_env(), "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        first = wait_until(
            lambda: live_worker_pids(queue), timeout=240, interval=0.5, what="the first worker"
        )
        wait_until(lambda: (health(port) or {}).get("status") == "ok", timeout=120, what="health")
        # run_stack is supervising once it printed its banner (before that a dead worker
        # fails the start instead).
        wait_until(
            lambda: "Press Ctrl-C to stop" in (tmp_path / "run_stack.log").read_text(),
            timeout=120,
            what="run_stack to finish starting",
        )
        (pid,) = first
        os.kill(pid, signal.SIGKILL)
        replaced = wait_until(
            lambda: live_worker_pids(queue) - first,
            timeout=240,
            interval=0.5,
            what="run_stack to start a new worker",
        )
        assert len(replaced) == 1
        wait_until(  # the web answers health itself; on a busy machine give it time
            lambda: (health(port) or {}).get("live_workers") == 1,
            timeout=60,
            what="health to count the one new worker",
        )
        trainers = wait_until(
            lambda: running_training_worker_pids(settings), timeout=60, what="a training worker"
        )
        os.kill(next(iter(trainers)), signal.SIGKILL)
        wait_until(
            lambda: running_training_worker_pids(settings) - trainers,
            timeout=120,
            what="run_stack to start a new training worker",
        )
        assert stack.poll() is None
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait(timeout=10)
        log.close()
    printed = (tmp_path / "run_stack.log").read_text()
    assert "worker 1 exited with code -9; restarted" in printed
    assert "the training worker exited with code -9; restarted" in printed
