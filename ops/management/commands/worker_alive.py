"""Exit 0 when at least one model worker on this host heart-beats (a container healthcheck)."""

import socket

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring.workers import live_workers


class Command(BaseCommand):
    help = "Exit 0 if a model worker of this host is registered and heart-beating, else 1."

    def handle(self, *args, **options):
        queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
        host = socket.gethostname()
        alive = live_workers(queue, name_prefix=f"{host}.")
        if not alive:
            self.stderr.write(f"no live model worker on {host}")
            raise SystemExit(1)
        self.stdout.write(f"{len(alive)} live model worker(s) on {host}")
