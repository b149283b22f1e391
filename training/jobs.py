"""The training job, run by a worker host's `manage.py rqworker training` (TensorFlow).

Never imported by a web process: the web queues it by its dotted path (`TRAIN_JOB`).
It reads the run's fixed dataset, computes (or reads cached) features, trains the head,
exports the model and registers it through the registry, whose worker validates it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from mlworker import trainer
from mlworker.registry_loader import version_spec
from registry import services as registry_services
from training import services
from training.models import TrainingRun
from training.selectors import TRAIN, VALIDATION

logger = logging.getLogger(__name__)


def train(run_id: int) -> str:
    """Train run `run_id`; returns its final state."""
    if not services.begin(run_id=run_id):
        return TrainingRun.objects.get(pk=run_id).state

    def progress(fraction: float, stage: str) -> bool:
        return services.record_progress(run_id=run_id, progress=fraction, stage=stage)

    try:
        result, version = _train(TrainingRun.objects.get(pk=run_id), progress)
    except trainer.TrainingStopped:
        logger.warning("training run %s cancelled", run_id)
        return TrainingRun.State.CANCELLED
    except Exception as error:  # a base file or an image can make a framework raise anything
        logger.exception("training run %s failed", run_id)
        services.record_failure(run_id=run_id, reason=f"{type(error).__name__}: {error}"[:500])
        return TrainingRun.State.FAILED
    services.record_result(run_id=run_id, result=result, version=version)
    return TrainingRun.State.DONE


def _train(run: TrainingRun, progress: trainer.Progress):
    started = time.monotonic()
    cache_dir = Path(settings.MODEL_CACHE_DIR)
    classes = tuple(run.classes)
    rows = [row for row in run.dataset if row[2] in classes]
    progress(0.01, "Loading the base version's backbone")
    backbone = trainer.load_backbone(version_spec(run.base_id), cache_dir)
    features, computed = trainer.compute_features(
        backbone, [(sha, name) for sha, name, _label, _split in rows], cache_dir, progress
    )
    featured = time.monotonic()
    labels = trainer.labels_as_indices([row[2] for row in rows], classes)
    is_train = np.array([row[3] == TRAIN for row in rows])
    is_validation = np.array([row[3] == VALIDATION for row in rows])
    fitted = trainer.train_head(
        features[is_train],
        labels[is_train],
        features[is_validation],
        labels[is_validation],
        len(classes),
        epochs=settings.TRAINING_EPOCHS,
        patience=settings.TRAINING_PATIENCE,
        seed=run.pk,
        progress=progress,
    )
    trained = time.monotonic()
    result = trainer.evaluate(fitted.head, features[is_validation], labels[is_validation], classes)
    result |= {
        "curve": fitted.curve,
        "epochs": fitted.epochs,
        "train_images": int(is_train.sum()),
        "validation_images": int(is_validation.sum()),
        "features_computed": computed,
        "features_cached": len(rows) - computed,
        "majority_baseline": _majority_share(labels[is_validation]),
        "seconds": {
            "features": round(featured - started, 1),
            "head": round(trained - featured, 1),
        },
    }
    progress(0.96, "Exporting and registering the model")
    with tempfile.TemporaryDirectory() as folder:
        path = trainer.export(backbone, fitted.head, Path(folder) / f"{run.name}.keras")
        with open(path, "rb") as content:
            version = registry_services.register_version(
                name=run.name,
                content=content,
                filename=path.name,
                labels_text="\n".join(classes),
                preprocessing=backbone.preprocessing,
                mean=list(backbone.mean) if backbone.mean else None,
                std=list(backbone.std) if backbone.std else None,
                input_size=backbone.input_size,
                actor=run.created_by,
            )
    result["seconds"]["total"] = round(time.monotonic() - started, 1)
    return result, version


def _majority_share(labels: np.ndarray) -> float:
    if not len(labels):
        return 0.0
    return round(float(np.bincount(labels).max() / len(labels)), 4)
