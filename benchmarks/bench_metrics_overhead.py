"""Web CPU per upload with and without the metrics (docs/METRICS.md, "What it costs").

Runs gunicorn (one gthread process, so its CPU is one process's) from a checkout of this
repository, sends uploads from a few client threads and reads the gunicorn worker's CPU
time from /proc. Every upload is the same photo, answered from the result cache, so no
model worker runs and what is measured is the web's share: validation, storage check,
cache lookup, the new row, and, in a checkout with metrics, the django-prometheus
middleware, the upload counter (multiprocess mode) and the queue-depth check.

    flock -x -w 1800 /work/machine.lock .venv/bin/python -m benchmarks.bench_metrics_overhead \\
        --checkout before=/tmp/metrics-before --checkout after=.

Each checkout is measured in alternating rounds, so a change in the machine's load hits
both. Needs PostgreSQL (LOADTEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/
metricsbench, recreated per checkout) and Redis (REDIS_URL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests
from PIL import Image

from benchmarks.load.host import run_record
from benchmarks.load.photos import encode_jpeg, source_photos
from benchmarks.load.system import ensure_postgres_database, manage, stack_environment
from ops.stack import free_port, stop_process, wait_until

PASSWORD = "bench-password-42"
EMAIL = "bench@example.com"


class Web:
    def __init__(self, name: str, checkout: Path, database_url: str, work: Path):
        self.name = name
        self.checkout = checkout.resolve()
        self.port = free_port()
        self.work = work / name
        self.work.mkdir(parents=True)
        (self.work / "prom").mkdir()
        self.env = {
            **os.environ,
            **stack_environment(
                database_url=database_url,
                model="resnet50",
                media_root=self.work / "media",
                static_root=self.work / "static",
                extra={
                    "METRICS_TOKEN": "bench",
                    "PROMETHEUS_MULTIPROC_DIR": str(self.work / "prom"),
                    "MAX_QUEUE_DEPTH": "500",
                },
            ),
        }
        self.database_url = database_url
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> None:
        manage(self.env, *args, cwd=self.checkout)

    def prepare(self, photo: bytes) -> None:
        ensure_postgres_database(self.database_url, fresh=True)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        (self.work / "photo.jpg").write_bytes(photo)
        # One finished prediction of the photo: every upload is then a cache answer.
        self.manage(
            "shell",
            "-c",
            "import hashlib; from django.utils import timezone;"
            "from accounts.models import User; from classifier.models import Prediction\n"
            "try:\n from classifier.catalog import configured_model_name as m\n"
            "except ImportError:  # the name a live worker publishes is the cache's key\n"
            " import django_rq; from django.conf import settings\n"
            " from classifier import queueing\n"
            " m = lambda: 'bench-model'\n"
            " queueing.publish_live_model(django_rq.get_connection(settings.INFERENCE_QUEUE),"
            " worker_name='bench', model_name=m(), ttl=86400)\n"
            f"u = User.objects.create_user(email='{EMAIL}', password='{PASSWORD}', name='b')\n"
            f"sha = hashlib.sha256(open('{self.work / 'photo.jpg'}', 'rb').read()).hexdigest()\n"
            "Prediction.objects.create(owner=u, image='images/x.jpg', image_sha256=sha,"
            " model_name=m(), status='done', label='tabby', score=0.9,"
            " top5=[{'label': 'tabby', 'score': 0.9}], finished_at=timezone.now())",
        )

    def start(self) -> None:
        log = open(self.work / "gunicorn.log", "ab")  # noqa: SIM115 (closed with the process)
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread",
            "--workers", "1", "--threads", "8",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=self.checkout,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._up(), timeout=60, what=f"gunicorn ({self.name})")
        self.worker = psutil.Process(self.process.pid).children()[0]
        response = requests.post(
            f"{self.url}/api/auth/token/", json={"email": EMAIL, "password": PASSWORD}, timeout=10
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access']}"}

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def round(self, uploads: int, clients: int) -> float:
        """CPU ms of the gunicorn worker per upload, over `uploads` uploads."""
        photo = (self.work / "photo.jpg").read_bytes()

        def send(_):
            with requests.Session() as session:
                for _ in range(uploads // clients):
                    response = session.post(
                        f"{self.url}/api/predictions/",
                        headers=self.headers,
                        files={"image": ("cat.jpg", photo)},
                        timeout=30,
                    )
                    assert response.status_code == 201, response.text

        before = self.worker.cpu_times()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, range(clients)))
        after = self.worker.cpu_times()
        return 1000 * (after.user + after.system - before.user - before.system) / uploads

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--uploads", type=int, default=400, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    database_url = os.environ.get(
        "LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/metricsbench"
    )
    print(run_record("bench_metrics_overhead"))
    work = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    photo = encode_jpeg(Image.fromarray(source_photos()[0]))
    webs = []
    try:
        for spec in args.checkout:
            name, path = spec.split("=", 1)
            webs.append(Web(name, Path(path), database_url, work))
        results: dict[str, list[float]] = {web.name: [] for web in webs}
        for index in range(args.rounds):
            for web in webs:  # one at a time: the database is shared
                web.prepare(photo)
                web.start()
                try:
                    web.round(100, args.clients)  # warm-up
                    time.sleep(0.5)
                    ms = web.round(args.uploads, args.clients)
                finally:
                    web.stop()
                results[web.name].append(ms)
                print(f"round {index + 1} {web.name}: {ms:.2f} ms CPU per upload", flush=True)
        print("\ncheckout | ms web CPU per upload (median of rounds) | rounds")
        for name, values in results.items():
            listed = ", ".join(f"{v:.2f}" for v in values)
            print(f"{name} | {statistics.median(values):.2f} | {listed}")
    finally:
        for web in webs:
            web.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
