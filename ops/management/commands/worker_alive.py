"""Exit 0 when a worker of this host is alive on its queue (a container healthcheck).

manage.py worker_alive                    # a model worker (run_model_worker)
manage.py worker_alive --queue training   # a training worker (rqworker training)
"""

import socket
from datetime import timedelta

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand
from rq.utils import now
from rq.worker import Worker

from monitoring.workers import live_workers


class Command(BaseCommand):
    help = "Exit 0 if a worker of this host is registered on the queue and heart-beating, else 1."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            default=settings.INFERENCE_QUEUE,
            choices=[settings.INFERENCE_QUEUE, settings.TRAINING_QUEUE],
        )
        parser.add_argument(
            "--within",
            type=float,
            default=90,
            help="training queue: seconds since the worker's last heartbeat (default 90)",
        )

    def handle(self, *args, queue, within, **options):
        host = socket.gethostname()
        if queue == settings.INFERENCE_QUEUE:
            alive = live_workers(django_rq.get_queue(queue), name_prefix=f"{host}.")
            kind = "model worker"
        else:
            alive = self.training_workers(queue, host, within)
            kind = "training worker"
        if not alive:
            self.stderr.write(f"no live {kind} on {host}")
            raise SystemExit(1)
        self.stdout.write(f"{len(alive)} live {kind}(s) on {host}")

    @staticmethod
    def training_workers(queue: str, host: str, within: float) -> list[Worker]:
        """A plain `rqworker` is named at random and heart-beats only between jobs (every
        `--worker-ttl` minus 15 s) and every 30 s while it trains, hence the host name and
        the wider window."""
        cutoff = now() - timedelta(seconds=within)
        return [
            worker
            for worker in Worker.all(queue=django_rq.get_queue(queue))
            if worker.hostname == host
            and worker.last_heartbeat is not None
            and worker.last_heartbeat >= cutoff
        ]
