"""Time and peak memory of one training run on ~1,000 labelled digits (docs/QUALITY.md).

    DEBUG=1 DATABASE_URL=postgres://... REDIS_URL=redis://.../N \
        .venv/bin/python -m benchmarks.measure_training [--images 1000]

REDIS_URL must name a Redis index nothing else uses: the script empties its training and
inference queues at the end (the runs it queued are trained here, not by a worker).

Works in a throwaway test database and media folder: makes the predictions and the users'
corrections (the true digit, typed as free text against the ImageNet live model), plans the
run as `train_model --base efficientnet_lite0 --labels new --classes 0,…,9` would, and runs
the training job in this process twice: cold (every feature computed) and warm (all cached).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="measure-training-"))
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ["MODEL_CACHE_DIR"] = str(folder / "cache")

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        measure(args.images)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        empty_queues()


def empty_queues() -> None:
    """The runs and the validations they asked for were queued; nothing will take them."""
    import django_rq
    from django.conf import settings

    for name in (settings.TRAINING_QUEUE, settings.INFERENCE_QUEUE):
        django_rq.get_queue(name).empty()


def measure(count: int) -> None:
    from django.contrib.auth import get_user_model

    from classifier.imaging import validate_image_bytes
    from classifier.models import Prediction
    from classifier.services import store_image
    from feedback.models import Feedback
    from registry.models import ModelVersion
    from training import jobs, services
    from training.digits import CLASSES, digit_photos
    from training.models import TrainingRun

    photos, targets = digit_photos()
    user = get_user_model().objects.create_user(email="m@example.com", password="x" * 12)
    for content, digit in zip(photos[:count], targets[:count], strict=True):
        image = validate_image_bytes(content)
        prediction = Prediction.objects.create(
            owner=user,
            image=store_image(image),
            image_sha256=image.sha256,
            status=Prediction.Status.DONE,
            label="envelope",
            model_name="efficientnet_lite0",
        )
        Feedback.objects.create(
            user=user, prediction=prediction, is_correct=False, other_label=str(digit)
        )
    base = ModelVersion.objects.get(builtin_key="efficientnet_lite0")
    for attempt in ("cold", "warm"):
        run = services.start_training(
            base=base, name=f"digits-{attempt}", label_set="new", classes=list(CLASSES)
        )
        started = time.monotonic()
        state = jobs.train(run.pk)
        elapsed = time.monotonic() - started
        run = TrainingRun.objects.get(pk=run.pk)
        result = run.result
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{attempt}: {state} in {elapsed:.1f} s on {os.cpu_count()} cores; "
            f"{result.get('train_images')} train / {result.get('validation_images')} validation "
            f"images; features {result.get('seconds')}; computed "
            f"{result.get('features_computed')}, cached {result.get('features_cached')}; "
            f"epochs {result.get('epochs')}; validation accuracy "
            f"{result.get('validation_accuracy')} (majority baseline "
            f"{result.get('majority_baseline')}); peak RSS so far {peak:.0f} MB "
            f"{run.failure_reason}"
        )


if __name__ == "__main__":
    main()
