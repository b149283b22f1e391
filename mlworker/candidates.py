"""The registry's candidate version beside the live one, inside a classification batch.

Shadow: the candidate also runs on a share of the batch's uploads, chosen by a hash of the
prediction id (`registry.spec.in_share`); its answers are stored as `ShadowAnswer` rows and
never become the user's answer. Canary: the uploads the web routed to the candidate (users
in its share, sticky by a hash of the user id; the prediction carries the candidate's
version from the upload on) are answered by it and recorded with its version. Everything
else is answered by the live model, as before; a batch still costs one forward pass per
model.

The candidate is read from the database at most every MODEL_LIVE_CHECK_SECONDS and loaded
once: by an idle worker as soon as it sees it (`load_candidate`), else by the first batch
that needs it (that batch waits for the load). While it cannot be loaded, canary uploads are
answered by the live version (and recorded as such) and shadow answers are skipped, so users
never wait on a trial.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields

import numpy as np
from django.conf import settings
from django.db import DatabaseError

from classifier.imaging import InvalidImage
from classifier.models import Prediction, ShadowAnswer
from mlworker import lifecycle
from mlworker.inference import (
    BatchOutcome,
    PreparedInputs,
    load_model_input,
    record_outcome,
    run_forward,
)
from mlworker.models.base import ImageClassifier
from mlworker.registry_loader import current_context, load_version, version_spec
from registry import spec
from registry.selectors import Candidate, candidate

logger = logging.getLogger(__name__)


@dataclass
class TrialOutcome(BatchOutcome):
    """A batch's outcome with the candidate's part: its answers to canary uploads (also in
    `results`, so the batch's jobs and metrics count them) and its shadow answers."""

    candidate: Candidate | None = None
    candidate_name: str = ""
    #: prediction ids whose answer in `results` is the candidate's (canary)
    answered_by_candidate: set[str] = field(default_factory=set)
    #: prediction id → the candidate's top-5 (shadow; not the user's answer)
    shadow_results: dict[str, list[dict]] = field(default_factory=dict)


class CandidateModel:
    """The candidate on trial and its loaded model (one at most), re-read between batches."""

    def __init__(self) -> None:
        self.model: ImageClassifier | None = None
        #: version id → when loading it last failed (not tried again for a recheck period)
        self._failed: dict[int, float] = {}

    def current(self) -> tuple[Candidate, ImageClassifier] | None:
        now = time.monotonic()
        wanted = candidate()  # re-read at most every MODEL_LIVE_CHECK_SECONDS
        if wanted is None or wanted.share <= 0:
            self.model = None  # a trial ended: free its memory
            return None
        if self.model is None or self.model.version_id != wanted.id:
            self.model = None
            failed_at = self._failed.get(wanted.id)
            if failed_at is not None and now - failed_at < settings.MODEL_LIVE_RECHECK_SECONDS:
                return None
            started = time.monotonic()
            try:
                self.model = load_version(version_spec(wanted.id), current_context())
            except Exception as error:  # ModelLoadError, a deleted row, out of memory…
                logger.error("cannot load candidate version %s: %s", wanted.id, error)
                self._failed[wanted.id] = now
                return None
            logger.warning(
                "loaded candidate %s (%s) in %.2f s",
                wanted.display_name,
                wanted.trial,
                time.monotonic() - started,
            )
        return wanted, self.model


_candidate_model = CandidateModel()


def loaded_candidate(version_id: int) -> ImageClassifier | None:
    """The candidate's model, when it is `version_id` and loaded: a promoted candidate goes
    live in this worker without being loaded again (`RegistryModels.already_loaded`)."""
    model = _candidate_model.model
    return model if model is not None and model.version_id == version_id else None


def load_candidate() -> None:
    """Load a newly set candidate while nothing waits (an idle worker calls this), so the
    first upload routed to it is not the one that waits for the load. A database it cannot
    read now is read again at the next idle moment or batch."""
    try:
        _candidate_model.current()
    except DatabaseError as error:
        logger.warning("candidate not read: %s", error)


def chosen_for_candidate(candidate: Candidate, prediction_ids: list[str]) -> list[str]:
    """The batch's uploads the candidate runs on: canary, those routed to it at upload;
    shadow, those in its share by a hash of the prediction id."""
    if candidate.trial == spec.CANARY:
        routed = {
            str(pk)
            for pk in Prediction.objects.filter(
                pk__in=prediction_ids, model_version_id=candidate.id
            ).values_list("pk", flat=True)
        }
        return [pk for pk in prediction_ids if pk in routed]
    return [pk for pk in prediction_ids if candidate.shadows(pk)]


def candidate_inputs(model: ImageClassifier, prediction_ids: list[str]) -> dict[str, np.ndarray]:
    """The images decoded again for the candidate (its size and preprocessing may differ)."""
    names = {
        str(pk): name
        for pk, name in Prediction.objects.filter(pk__in=prediction_ids).values_list("pk", "image")
    }
    inputs: dict[str, np.ndarray] = {}
    for prediction_id in prediction_ids:
        try:
            inputs[prediction_id] = load_model_input(model, names[prediction_id])
        except (InvalidImage, OSError, KeyError) as error:  # the live model answers it
            logger.warning("candidate skipped %s: %s", prediction_id, error)
    return inputs


def forward(model: ImageClassifier, prepared: PreparedInputs) -> BatchOutcome:
    """The batch's forward pass on the live model, and one on the candidate for its part."""
    trial = _candidate_model.current() if prepared.inputs else None
    if trial is None or trial[1].version_id == model.version_id:
        return run_forward(model, prepared)
    candidate, candidate_model = trial
    chosen = chosen_for_candidate(candidate, list(prepared.inputs))
    theirs = candidate_inputs(candidate_model, chosen) if chosen else {}
    canary = candidate.trial == spec.CANARY
    live_inputs = {
        pk: image for pk, image in prepared.inputs.items() if not (canary and pk in theirs)
    }
    outcome = run_forward(model, PreparedInputs(outcome=prepared.outcome, inputs=live_inputs))
    trial_outcome = TrialOutcome(
        **{f.name: getattr(outcome, f.name) for f in fields(BatchOutcome)},
        candidate=candidate,
        candidate_name=candidate_model.name,
    )
    if theirs:
        started = time.perf_counter()
        probabilities = candidate_model.predict_batch(np.stack(list(theirs.values())))
        trial_outcome.forward_seconds += time.perf_counter() - started
        trial_outcome.forward_passes += 1
        answers = {
            pk: [entry.as_dict() for entry in top]
            for pk, top in zip(theirs, candidate_model.top_k(probabilities), strict=True)
        }
        if canary:
            trial_outcome.results.update(answers)
            trial_outcome.answered_by_candidate = set(answers)
        else:
            trial_outcome.shadow_results = answers
    return trial_outcome


def record(outcome: BatchOutcome, *, model_name: str, model_version_id: int | None = None) -> None:
    """Store the live answers (`record_outcome`), the candidate's canary answers with its
    version, and its shadow answers apart."""
    if not isinstance(outcome, TrialOutcome) or outcome.candidate is None:
        record_outcome(outcome, model_name=model_name, model_version_id=model_version_id)
        return
    theirs = {
        pk: top5 for pk, top5 in outcome.results.items() if pk in outcome.answered_by_candidate
    }
    live = BatchOutcome(
        results={pk: top5 for pk, top5 in outcome.results.items() if pk not in theirs},
        failures=outcome.failures,
    )
    record_outcome(live, model_name=model_name, model_version_id=model_version_id)
    if theirs:
        lifecycle.complete_predictions(
            results=theirs, model_name=outcome.candidate_name, model_version_id=outcome.candidate.id
        )
    answered = set(live.results)
    ShadowAnswer.objects.bulk_create(
        [
            ShadowAnswer(
                prediction_id=pk,
                model_version_id=outcome.candidate.id,
                label=top5[0]["label"],
                score=top5[0]["score"],
                top5=top5,
            )
            for pk, top5 in outcome.shadow_results.items()
            if pk in answered and top5
        ],
        ignore_conflicts=True,
    )
