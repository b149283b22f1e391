"""Reads for the quality dashboard (the review queue's are in `quality.queue`, the candidate
comparisons in `quality.comparison`).

Every figure is an aggregate the database computes (Count with filters, Trunc, Window);
Python only turns the few resulting rows into rates and intervals. The dashboard is a
fixed number of queries whatever the data size (tests count them).

One invariant keeps the joins honest: a prediction has at most one feedback row (feedback
comes only from the prediction's owner, one per user and prediction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db.models import (
    Avg,
    Count,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.functions import Cast, Floor, Least, RowNumber, TruncDay, TruncWeek
from django.utils import timezone

from classifier.models import Prediction
from feedback.models import Feedback
from quality.models import ReviewedLabel
from quality.stats import Proportion

TOP_K = 5
CALIBRATION_BUCKETS = 10
LABEL_ROWS = 20
CONFUSION_ROWS = 10
CONFUSION_EXAMPLES = 3
OTHER_LABEL_ROWS = 10
DEFAULT_DAYS = 30

DASHBOARD_PERMISSION = "quality.view_dashboard"
REVIEW_PERMISSION = "quality.review_predictions"
EXPORT_PERMISSION = "quality.export_dataset"


# --- The period and the slices of data it selects ------------------------------------------
@dataclass(frozen=True)
class Period:
    """Predictions made in [start, end); `model_name` narrows the detailed sections."""

    start: datetime
    end: datetime
    model_name: str = ""
    bucket: str = "day"  # or "week"

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, **kwargs) -> Period:
        end = timezone.now()
        return cls(start=end - timedelta(days=days), end=end, **kwargs)


def answered_predictions(period: Period, *, by_model: bool = True) -> QuerySet[Prediction]:
    queryset = Prediction.objects.filter(
        status=Prediction.Status.DONE, created_at__gte=period.start, created_at__lt=period.end
    )
    if by_model and period.model_name:
        queryset = queryset.filter(model_name=period.model_name)
    return queryset


def verdicts(period: Period) -> QuerySet[Feedback]:
    """Feedback that says right or wrong about an answered prediction made in the period."""
    queryset = Feedback.objects.filter(
        is_correct__isnull=False,
        prediction__status=Prediction.Status.DONE,
        prediction__created_at__gte=period.start,
        prediction__created_at__lt=period.end,
    )
    if period.model_name:
        queryset = queryset.filter(prediction__model_name=period.model_name)
    return queryset


# --- Figures ---------------------------------------------------------------------------------
#: The lookup from a prediction to its users' verdicts (right, wrong, or none given).
SAID = "feedback_entries__is_correct"


def verdict_counts() -> dict[str, Count]:
    """Per group of predictions: `feedback`, how many verdicts were given, and `correct`,
    how many said right (accuracy is correct / feedback)."""
    return {
        "feedback": Count("feedback_entries", filter=Q(**{f"{SAID}__isnull": False})),
        "correct": Count("feedback_entries", filter=Q(**{SAID: True})),
    }


def feedback_accuracy(row: dict) -> Proportion:
    """Accuracy by users' verdicts of a row annotated with `verdict_counts()`."""
    return Proportion.of(row["correct"], row["feedback"])


@dataclass
class ModelQuality:
    model_name: str
    predictions: int
    feedback: int
    feedback_rate: float | None
    accuracy: Proportion
    top5: Proportion
    other_labels: int
    reviewed_accuracy: Proportion
    reviewed_top5: Proportion


def model_summary(period: Period) -> list[ModelQuality]:
    """Per model name as recorded on predictions (runtimes and versions stay apart). One query."""
    # Ranks were stored with each verdict and review (feedback.labels.rank_in_top), so
    # this reads no JSON and the scan can stay on the narrow covering index.
    top5_hit = Q(**{f"{SAID}__isnull": False, "feedback_entries__correct_rank__lte": TOP_K})
    rows = (
        answered_predictions(period, by_model=False)
        .values("model_name")
        .annotate(
            predictions=Count("id"),
            **verdict_counts(),
            top5_hits=Count("feedback_entries", filter=top5_hit),
            other_labels=Count(
                "feedback_entries",
                filter=Q(**{SAID: False}) & ~Q(feedback_entries__other_label=""),
            ),
            reviewed=Count("reviewed_label"),
            reviewed_correct=Count("reviewed_label", filter=Q(reviewed_label__label=F("label"))),
            reviewed_top5=Count("reviewed_label", filter=Q(reviewed_label__rank__lte=TOP_K)),
        )
        .order_by("model_name")
    )
    return [
        ModelQuality(
            model_name=row["model_name"],
            predictions=row["predictions"],
            feedback=row["feedback"],
            feedback_rate=row["feedback"] / row["predictions"] if row["predictions"] else None,
            accuracy=feedback_accuracy(row),
            top5=Proportion.of(row["top5_hits"], row["feedback"]),
            other_labels=row["other_labels"],
            reviewed_accuracy=Proportion.of(row["reviewed_correct"], row["reviewed"]),
            reviewed_top5=Proportion.of(row["reviewed_top5"], row["reviewed"]),
        )
        for row in rows
    ]


@dataclass
class TimePoint:
    model_name: str
    start: datetime
    accuracy: Proportion


def accuracy_over_time(period: Period) -> list[TimePoint]:
    """Accuracy from feedback per day or week of the prediction, per model. One query."""
    trunc = TruncWeek if period.bucket == "week" else TruncDay
    rows = (
        verdicts(period)
        .annotate(when=trunc("prediction__created_at"))
        .values("prediction__model_name", "when")
        .annotate(feedback=Count("id"), correct=Count("id", filter=Q(is_correct=True)))
        .order_by("prediction__model_name", "when")
    )
    return [
        TimePoint(row["prediction__model_name"], row["when"], feedback_accuracy(row))
        for row in rows
    ]


@dataclass
class LabelQuality:
    label: str
    predictions: int
    accuracy: Proportion


def per_predicted_label(period: Period, limit: int = LABEL_ROWS) -> list[LabelQuality]:
    """The most predicted labels: how often, and how often right by feedback. One query."""
    rows = (
        answered_predictions(period)
        .values("label")
        .annotate(predictions=Count("id"), **verdict_counts())
        .order_by("-predictions", "label")[:limit]
    )
    return [LabelQuality(row["label"], row["predictions"], feedback_accuracy(row)) for row in rows]


@dataclass
class Confusion:
    predicted: str
    corrected: str
    count: int
    examples: list = field(default_factory=list)  # prediction ids, newest first


def confusions(period: Period, limit: int = CONFUSION_ROWS) -> list[Confusion]:
    """Most frequent (predicted → corrected) pairs, with a few example predictions. Two
    queries: the pairs, then a window (ROW_NUMBER per pair) for their newest examples."""
    wrong = verdicts(period).filter(is_correct=False).exclude(correct_label="")
    pairs = list(
        wrong.values(predicted=F("prediction__label"), corrected=F("correct_label"))
        .annotate(count=Count("id"))
        .order_by("-count", "predicted", "corrected")[:limit]
    )
    found = [Confusion(row["predicted"], row["corrected"], row["count"]) for row in pairs]
    if not found:
        return found
    by_pair = {(item.predicted, item.corrected): item for item in found}
    examples = (
        wrong.filter(
            reduce(
                or_,
                (
                    Q(prediction__label=item.predicted, correct_label=item.corrected)
                    for item in found
                ),
            )
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("prediction__label"), F("correct_label")],
                order_by=[F("prediction__created_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=CONFUSION_EXAMPLES)
        .values_list("prediction__label", "correct_label", "prediction_id")
        .order_by("prediction__label", "correct_label", "rank")
    )
    for predicted, corrected, prediction_id in examples:
        by_pair[(predicted, corrected)].examples.append(prediction_id)
    return found


@dataclass
class CalibrationBucket:
    low: float
    high: float
    mean_confidence: float
    accuracy: Proportion


def calibration(period: Period, buckets: int = CALIBRATION_BUCKETS) -> list[CalibrationBucket]:
    """Accuracy from feedback per top-1 confidence bucket ([0, 0.1), …, [0.9, 1.0]). One query."""
    bucket = Cast(
        Least(Floor(F("prediction__score") * Value(float(buckets))), Value(float(buckets - 1))),
        FloatField(),
    )
    rows = (
        verdicts(period)
        .filter(prediction__score__isnull=False)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            total=Count("id"),
            correct=Count("id", filter=Q(is_correct=True)),
            mean=Avg("prediction__score"),
        )
        .order_by("bucket")
    )
    return [
        CalibrationBucket(
            low=int(row["bucket"]) / buckets,
            high=(int(row["bucket"]) + 1) / buckets,
            mean_confidence=row["mean"],
            accuracy=Proportion.of(row["correct"], row["total"]),
        )
        for row in rows
    ]


def other_labels(period: Period, limit: int = OTHER_LABEL_ROWS) -> list[dict]:
    """Corrections naming no ImageNet class, reported apart from accuracy. One query."""
    return list(
        verdicts(period)
        .filter(is_correct=False)
        .exclude(other_label="")
        .values("other_label")
        .annotate(count=Count("id"))
        .order_by("-count", "other_label")[:limit]
    )


@dataclass
class Dashboard:
    period: Period
    models: list[ModelQuality]
    timeline: list[TimePoint]
    labels: list[LabelQuality]
    confusions: list[Confusion]
    calibration: list[CalibrationBucket]
    other_labels: list[dict]


DASHBOARD_QUERIES = 7  # what `dashboard` costs; tests hold it to this


def dashboard(period: Period) -> Dashboard:
    return Dashboard(
        period=period,
        models=model_summary(period),
        timeline=accuracy_over_time(period),
        labels=per_predicted_label(period),
        confusions=confusions(period),
        calibration=calibration(period),
        other_labels=other_labels(period),
    )


def reviewed_labels() -> QuerySet[ReviewedLabel]:
    return ReviewedLabel.objects.select_related("prediction", "reviewer")
