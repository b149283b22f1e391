"""Train a new version from our labels: `manage.py train_model --base efficientnet_lite0:1`.

The command checks the labels and queues the run; a training worker
(`manage.py rqworker training`) trains it. Unless `--no-wait`, it follows the run with a
progress bar and prints the result.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from registry.models import ModelVersion
from training import services
from training.models import TrainingRun


def find_version(text: str) -> ModelVersion:
    """`12` (an id), `name:3` or `name v3`, or `name` (its newest version)."""
    text = text.strip()
    name, _sep, number = text.replace(" v", ":").partition(":")
    versions = ModelVersion.objects.all()
    try:
        if text.isdigit():
            return versions.get(pk=int(text))
        if number:
            return versions.get(name=name, version=int(number))
        found = versions.filter(name=name).first()
    except (ModelVersion.DoesNotExist, ValueError):
        found = None
    if found is None:
        raise CommandError(f"No model version {text!r} (try `name:version` or an id).")
    return found


class Command(BaseCommand):
    help = "Train a new classification head on a version's frozen backbone from trusted labels."

    def add_arguments(self, parser):
        parser.add_argument("--base", required=True, help="id, name:version or name")
        parser.add_argument("--labels", choices=["base", "new"], default="base")
        parser.add_argument(
            "--classes", default="", help="comma-separated class names (with --labels new)"
        )
        parser.add_argument("--name", default="", help="registry name (default: BASE-trained)")
        parser.add_argument("--no-wait", action="store_true", help="queue it and return")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, **options):
        base = find_version(options["base"])
        classes = [c.strip() for c in options["classes"].split(",") if c.strip()]
        if options["labels"] == "new" and not classes:
            raise CommandError("--labels new needs --classes a,b,c.")
        name = options["name"] or f"{base.name}-trained"
        try:
            run = services.start_training(
                base=base, name=name, label_set=options["labels"], classes=classes
            )
        except services.TrainingRefused as error:
            raise CommandError(str(error)) from None
        self.report_counts(run)
        self.stdout.write(f"training run {run.pk} queued on the training queue")
        if options["no_wait"]:
            return
        run = self.follow(run, options["timeout"])
        self.report_result(run)
        if run.state != TrainingRun.State.DONE:
            raise CommandError(f"training run {run.pk} {run.state}: {run.failure_reason}")

    def report_counts(self, run: TrainingRun) -> None:
        counts = run.counts
        self.stdout.write(f"{len(run.classes)} classes, images per class (train/validation):")
        for label in run.classes:
            self.stdout.write(f"  {label}: {counts['train'][label]}/{counts['validation'][label]}")
        self.stdout.write(
            f"sources: {counts['sources']}; imbalance (largest/smallest) {counts['imbalance']}"
        )

    def follow(self, run: TrainingRun, timeout: float) -> TrainingRun:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            run.refresh_from_db()
            services.settle_lost_run(run=run)
            width = 30
            filled = int(run.progress * width)
            bar = "#" * filled + "." * (width - filled)
            line = f"\r[{bar}] {run.progress:4.0%} {run.stage[:60]:60}"
            if line != shown:  # a line per change, not per poll
                sys.stdout.write(line)
                sys.stdout.flush()
                shown = line
            if run.is_finished:
                sys.stdout.write("\n")
                return run
            time.sleep(0.5)
        raise CommandError(f"training run {run.pk} not finished after {timeout:.0f} s")

    def report_result(self, run: TrainingRun) -> None:
        result = run.result
        if not result:
            return
        self.stdout.write(
            f"validation accuracy {result['validation_accuracy']:.3f} on "
            f"{result['validation_images']} images (majority-class baseline "
            f"{result['majority_baseline']:.3f}); {result['epochs']} epochs; "
            f"{result['seconds']}"
        )
        for label, accuracy in result["per_class_accuracy"].items():
            shown = "-" if accuracy is None else f"{accuracy:.3f}"
            self.stdout.write(f"  {label}: {shown}")
        self.stdout.write(f"registered {run.version} (validating, then ready to promote)")
