"""Which images carry a label we trust enough to train on, and which label.

Per image (by its digest), the most trusted source wins: a reviewer's label, then a user's
correction, then a user's confirmation of the model's answer. Within one source the most
recent wins. A label counts only when it names one of the run's classes (spelling, case and
spaces do not matter), so free-text "other" answers are excluded unless they name a class.
The rules are documented in docs/QUALITY.md, "Training from feedback".
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

from django.conf import settings

from classifier.models import Prediction
from feedback.labels import LabelSet, canonicalise_label
from feedback.models import Feedback
from quality.models import ReviewedLabel

REVIEWED, CORRECTED, CONFIRMED = "reviewed", "corrected", "confirmed"
TRUST = {REVIEWED: 3, CORRECTED: 2, CONFIRMED: 1}
TRAIN, VALIDATION = "train", "validation"


@dataclass(frozen=True)
class LabelledImage:
    sha256: str
    image_name: str
    label: str
    source: str

    @property
    def split(self) -> str:
        return split_for(self.sha256)


def split_for(sha256: str) -> str:
    """Train or validation, fixed by the image's digest: the same photo always lands on the
    same side, whoever uploaded it and whenever the run starts."""
    bucket = int(hashlib.sha256(b"split:" + sha256.encode()).hexdigest()[:8], 16) % 1000
    return VALIDATION if bucket < settings.TRAINING_VALIDATION_SHARE * 1000 else TRAIN


def labelled_images(*, classes: tuple[str, ...]) -> list[LabelledImage]:
    """One trusted label per image digest, among `classes`, ordered by digest."""
    names = LabelSet.of(classes)
    best: dict[str, tuple[int, float, str, str]] = {}
    image_names: dict[str, str] = {}

    def offer(sha256: str, image_name: str, text: str, source: str, when) -> None:
        label = canonicalise_label(text, names).label
        if not label:
            return
        key = (TRUST[source], when.timestamp(), label, source)
        if sha256 not in best or key[:2] > best[sha256][:2]:
            best[sha256] = key
            image_names[sha256] = image_name

    reviewed = ReviewedLabel.objects.select_related("prediction").only(
        "image_sha256", "label", "reviewed_at", "prediction__image"
    )
    for review in reviewed.iterator():
        offer(
            review.image_sha256,
            review.prediction.image.name or "",
            review.label,
            REVIEWED,
            review.reviewed_at,
        )
    answered = Feedback.objects.filter(
        prediction__isnull=False, prediction__status=Prediction.Status.DONE
    ).select_related("prediction")
    for entry in answered.iterator():
        prediction = entry.prediction
        if prediction is None:  # excluded by the filter; the type allows it
            continue
        if entry.is_correct is False:
            text, source = entry.correct_label or entry.other_label, CORRECTED
        elif entry.is_correct:
            text, source = prediction.label, CONFIRMED
        else:
            continue
        offer(prediction.image_sha256, prediction.image.name or "", text, source, entry.updated_at)
    return [
        LabelledImage(
            sha256=sha, image_name=image_names[sha], label=best[sha][2], source=best[sha][3]
        )
        for sha in sorted(best)
    ]


def class_counts(images: list[LabelledImage], classes: tuple[str, ...]) -> dict:
    """Images per class in each split, by source, and the imbalance (largest / smallest)."""
    train = Counter(image.label for image in images if image.split == TRAIN)
    validation = Counter(image.label for image in images if image.split == VALIDATION)
    totals = {label: train[label] + validation[label] for label in classes}
    smallest = min(totals.values(), default=0)
    return {
        "train": {label: train[label] for label in classes},
        "validation": {label: validation[label] for label in classes},
        "total": totals,
        "sources": dict(Counter(image.source for image in images)),
        "imbalance": round(max(totals.values()) / smallest, 2) if smallest else None,
        "majority_share": round(max(totals.values()) / max(sum(totals.values()), 1), 4)
        if totals
        else 0.0,
    }
