"""The three steps of a classification batch: prepare, one forward pass, record.

`mlworker.jobs.classify_prediction` names them; the batched worker runs them, preparing
the next batch while the current one is in the model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from django.core.files.storage import default_storage

from classifier.imaging import InvalidImage, decode_rgb
from mlworker import lifecycle
from mlworker.models.base import ImageClassifier
from monitoring.metrics import FailureReason

logger = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    #: prediction id → top-5 as [{label, score}, ...]
    results: dict[str, list[dict]] = field(default_factory=dict)
    #: prediction id → message shown to the user (these are not retried)
    failures: dict[str, str] = field(default_factory=dict)
    #: prediction ids that needed no work (already finished or gone)
    skipped: list[str] = field(default_factory=list)
    forward_passes: int = 0
    forward_seconds: float = 0.0


#: decode at least this many times the model's input side: resizing down from there still
#: averages several source pixels into each input pixel, as from the full-size photo
DECODE_SIDE_FACTOR = 2


def load_model_input(model: ImageClassifier, storage_name: str) -> np.ndarray:
    with default_storage.open(storage_name, "rb") as stored:
        content = stored.read()
    return decode_rgb(
        content, model.preprocess, min_side=DECODE_SIDE_FACTOR * max(model.input_size)
    )


@dataclass
class PreparedInputs:
    """A group of predictions marked running, with their images decoded for the model."""

    outcome: BatchOutcome
    #: prediction id → preprocessed image, in the order they will be stacked
    inputs: dict[str, np.ndarray]


def prepare_inputs(model: ImageClassifier, prediction_ids: list[str]) -> PreparedInputs:
    """Mark the predictions running and decode their images (no model call).

    Split from the forward pass so the batched worker can prepare the next batch while
    the current one is in the model.
    """
    outcome = BatchOutcome()
    predictions = lifecycle.start_predictions(prediction_ids=prediction_ids)
    not_started = [pid for pid in prediction_ids if pid not in predictions]
    if not_started:  # finished already, or past their deadline: failed as expired, never run
        outcome.failures.update(lifecycle.expire_overdue_predictions(prediction_ids=not_started))
    outcome.skipped = [pid for pid in not_started if pid not in outcome.failures]
    inputs: dict[str, np.ndarray] = {}
    for prediction_id, prediction in predictions.items():
        try:
            inputs[prediction_id] = load_model_input(model, prediction.image.name)
        except InvalidImage as error:
            outcome.failures[prediction_id] = str(error)
        except OSError:
            outcome.failures[prediction_id] = "The stored image is missing or unreadable."
    return PreparedInputs(outcome=outcome, inputs=inputs)


def run_forward(model: ImageClassifier, prepared: PreparedInputs) -> BatchOutcome:
    """One forward pass over the prepared images; fills in each prediction's top-5."""
    outcome = prepared.outcome
    if prepared.inputs:
        started = time.perf_counter()
        probabilities = model.predict_batch(np.stack(list(prepared.inputs.values())))
        outcome.forward_seconds = time.perf_counter() - started
        outcome.forward_passes = 1
        for prediction_id, top in zip(prepared.inputs, model.top_k(probabilities), strict=True):
            outcome.results[prediction_id] = [entry.as_dict() for entry in top]
    return outcome


def record_outcome(
    outcome: BatchOutcome, *, model_name: str, model_version_id: int | None = None
) -> None:
    """Store the results (with the model and registry version that ran) and the per-image
    failures in the database."""
    if outcome.results:
        lifecycle.complete_predictions(
            results=outcome.results, model_name=model_name, model_version_id=model_version_id
        )
    for prediction_id, message in outcome.failures.items():
        # Expired ones were failed already; this finds them finished and does nothing.
        lifecycle.fail_prediction(
            prediction_id=prediction_id, message=message, reason=FailureReason.BAD_IMAGE
        )
