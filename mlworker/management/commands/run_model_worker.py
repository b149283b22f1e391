"""python manage.py run_model_worker: the batched model worker."""

import logging
import socket
import sys
import uuid

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlworker.catalog import MODELS, UnknownModel, load_model
from mlworker.runtimes import AUTO, PRECISIONS, RUNTIMES, RuntimeUnavailable, choose

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run ResNet50 (or another model) over the Redis queue in batches."

    def add_arguments(self, parser):
        parser.add_argument("--queue", default=settings.INFERENCE_QUEUE)
        parser.add_argument("--batch-size", type=int, default=settings.BATCH_SIZE)
        parser.add_argument("--max-wait-ms", type=float, default=settings.BATCH_MAX_WAIT_MS)
        parser.add_argument("--model", default=settings.CLASSIFIER_MODEL, choices=sorted(MODELS))
        parser.add_argument(
            "--runtime",
            default=settings.INFERENCE_RUNTIME,
            choices=[AUTO, *RUNTIMES],
            help="How to run the Keras model (default: INFERENCE_RUNTIME).",
        )
        parser.add_argument(
            "--precision",
            default=settings.INFERENCE_PRECISION,
            choices=[AUTO, *PRECISIONS],
            help="fp32, bf16 where the CPU has it, int8 (OpenVINO), or auto: the fastest that "
            "passes the accuracy gate (default: INFERENCE_PRECISION).",
        )
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")
        parser.add_argument("--name", default=None, help="Worker name (default: host.pid.random).")

    def handle(self, *args, **options):
        from mlworker.models.backends import configured_threads
        from mlworker.models.resnet import WeightsUnavailable
        from mlworker.worker import BatchSettings, BatchWorker

        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            choice = choose(options["runtime"], options["precision"])
            threads = configured_threads()
            model = load_model(options["model"], choice=choice, threads=threads)
        except (WeightsUnavailable, UnknownModel, RuntimeUnavailable) as error:
            self.stderr.write(f"run_model_worker: {error}")
            sys.exit(2)
        name = options["name"] or f"{socket.gethostname()}.{uuid.uuid4().hex[:8]}"
        queue = django_rq.get_queue(options["queue"])
        registry_models = follow_live_version(
            model, options["model"], choice, threads, queue.connection, options["batch_size"]
        )
        worker = BatchWorker(
            [queue],
            name=name,
            model=model,
            registry_models=registry_models,
            batching=BatchSettings(
                batch_size=options["batch_size"],
                max_wait_ms=options["max_wait_ms"],
                job_lease_seconds=settings.JOB_LEASE_SECONDS,
            ),
            worker_ttl=settings.WORKER_HEARTBEAT_SECONDS,
            maintenance_interval=settings.WORKER_HEARTBEAT_SECONDS,
        )
        # The one line that says what this worker runs, and why (the gate's verdict included).
        settled = getattr(model, "choice", choice)
        self.stdout.write(
            f"Worker {name}: model {model.name} on {settled.runtime} {settled.precision} "
            f"({settled.reason}), {threads.threads} thread(s) for "
            f"{threads.workers_per_host} worker(s) per host, batch size "
            f"{options['batch_size']}, max wait {options['max_wait_ms']:g} ms, "
            f"queue {options['queue']!r}"
        )
        self.stdout.flush()
        worker.work(burst=options["burst"], logging_level=settings.RQ_WORKER_LOG_LEVEL)
        self.stdout.write(f"Worker {name}: stopped after {worker.batches_done} batches")


def follow_live_version(model, model_key, choice, threads, connection, batch_size):
    """The registry hook: between batches the worker switches to the live version."""
    from mlworker.candidates import loaded_candidate
    from mlworker.models.backends import default_cache_dir
    from mlworker.registry_loader import RegistryModels, RuntimeContext, use_context
    from mlworker.worker import warm_up

    context = RuntimeContext(choice=choice, threads=threads, cache_dir=default_cache_dir())
    use_context(context)
    return RegistryModels(
        model,
        build_fallback=lambda: load_model(model_key, choice=choice, threads=threads),
        connection=connection,
        context=context,
        warm_up=lambda loaded: warm_up(loaded, sorted({1, batch_size})),
        already_loaded=loaded_candidate,
    )
