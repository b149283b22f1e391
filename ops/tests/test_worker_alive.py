"""`manage.py worker_alive --queue training`: the trainer's healthcheck (docker-compose.yml)
and readiness probe (the chart; test_chart.py checks they are the same), against the
trainer's own command, run on this run's Redis."""

import signal
import subprocess
import sys

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command

from ops.stack import wait_until
from testing.live_stack import subprocess_env

pytestmark = [pytest.mark.slow]


def trainer_service() -> dict:
    return yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())["services"][
        "trainer"
    ]


def alive(*args: str) -> bool:
    try:
        call_command("worker_alive", *args)
    except SystemExit as stopped:
        assert stopped.code == 1
        return False
    return True


@pytest.mark.django_db
def test_a_training_worker_counts_while_it_runs_and_not_after(clean_redis, capsys):
    service = trainer_service()
    assert service["command"][:2] == ["python", "manage.py"]
    assert service["healthcheck"]["test"][:4] == ["CMD", "python", "manage.py", "worker_alive"]
    command, probe = service["command"][2:], service["healthcheck"]["test"][4:]
    assert not alive(*probe)
    assert "no live training worker on" in capsys.readouterr().err
    worker = subprocess.Popen(
        [sys.executable, "manage.py", *command],
        cwd=settings.BASE_DIR,
        env={"PATH": "/usr/bin:/bin", **subprocess_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: alive(*probe), timeout=60, what="the training worker")
        assert "1 live training worker(s) on" in capsys.readouterr().out
        # A training worker is no model worker: the model worker's check still fails.
        assert not alive()
        worker.send_signal(signal.SIGTERM)  # warm shutdown: it leaves the registry
        assert worker.wait(timeout=60) == 0
        assert not alive(*probe)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
