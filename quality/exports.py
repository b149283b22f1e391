"""Dataset exports for retraining: a manifest (CSV or JSONL) and an ImageNet-style folder archive.

Rows stream from the database (`iterator(chunk_size=…)`), so 100 000 predictions never sit
in memory as a list. Images are read through `default_storage` only (local disk or S3).
Callers decide who may export (the command is an operator's; the admin action checks
`quality.export_dataset`).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F, QuerySet

from classifier.models import Prediction

CHUNK_SIZE = 2000

MANIFEST_FIELDS = [
    "prediction_id",
    "image_sha256",
    "storage_name",
    "model_name",
    "predicted_label",
    "score",
    "top5",
    "user_verdict",
    "correct_label",
    "other_label",
    "reviewed_label",
    "label",
    "created_at",
    "feedback_at",
    "reviewed_at",
]


@dataclass(frozen=True)
class ExportFilter:
    model_name: str = ""
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    only_corrected: bool = False  # the user said wrong and named a class
    only_reviewed: bool = False

    def describe(self) -> str:
        parts = [f"model={self.model_name or 'all'}"]
        if self.since:
            parts.append(f"since={self.since.isoformat()}")
        if self.until:
            parts.append(f"until={self.until.isoformat()}")
        if self.only_corrected:
            parts.append("only corrected")
        if self.only_reviewed:
            parts.append("only reviewed")
        return ", ".join(parts)


def export_queryset(
    filters: ExportFilter, *, base: QuerySet[Prediction] | None = None, include_emails=False
) -> QuerySet:
    """Answered predictions with their owner's feedback and reviewed label, as dict rows.

    A prediction has at most one feedback row (its owner's), so the LEFT JOIN keeps one row
    per prediction.
    """
    queryset = (base if base is not None else Prediction.objects.all()).filter(
        status=Prediction.Status.DONE
    )
    if filters.model_name:
        queryset = queryset.filter(model_name=filters.model_name)
    if filters.since:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(created_at__lt=filters.until)
    if filters.only_corrected:
        queryset = queryset.filter(feedback_entries__is_correct=False).exclude(
            feedback_entries__correct_label=""
        )
    if filters.only_reviewed:
        queryset = queryset.filter(reviewed_label__isnull=False)
    columns = {
        "prediction_id": F("id"),
        "storage_name": F("image"),
        "predicted_label": F("label"),
        "user_verdict": F("feedback_entries__is_correct"),
        "correct_label": F("feedback_entries__correct_label"),
        "other_label": F("feedback_entries__other_label"),
        "feedback_at": F("feedback_entries__updated_at"),
        "reviewed": F("reviewed_label__label"),
        "reviewed_at": F("reviewed_label__reviewed_at"),
    }
    if include_emails:
        columns["owner_email"] = F("owner__email")
    return queryset.values(
        "image_sha256", "model_name", "score", "top5", "created_at", **columns
    ).order_by("created_at", "id")


def training_label(row: dict) -> str:
    """Reviewed label, else the user's: their correction, or the prediction they confirmed."""
    if row["reviewed"]:
        return row["reviewed"]
    if row["user_verdict"] is True:
        return row["predicted_label"]
    if row["user_verdict"] is False and row["correct_label"]:
        return row["correct_label"]
    return ""


def manifest_rows(queryset: QuerySet) -> Iterator[dict]:
    for row in queryset.iterator(chunk_size=CHUNK_SIZE):
        verdict = row["user_verdict"]
        record = {
            "prediction_id": str(row["prediction_id"]),
            "image_sha256": row["image_sha256"],
            "storage_name": row["storage_name"],
            "model_name": row["model_name"],
            "predicted_label": row["predicted_label"],
            "score": row["score"],
            "top5": row["top5"],
            "user_verdict": {True: "right", False: "wrong"}.get(verdict, ""),
            "correct_label": row["correct_label"] or "",
            "other_label": row["other_label"] or "",
            "reviewed_label": row["reviewed"] or "",
            "label": training_label(row),
            "created_at": row["created_at"],
            "feedback_at": row["feedback_at"],
            "reviewed_at": row["reviewed_at"],
        }
        if "owner_email" in row:
            record["owner_email"] = row["owner_email"]
        yield record


def jsonl_lines(rows: Iterable[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


# A spreadsheet reads a cell starting with one of these as a formula (OWASP's CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text a spreadsheet shows as text: a leading single quote before a formula trigger.

    Free-text corrections and e-mails come from users; staff open the manifest in a
    spreadsheet, where `=HYPERLINK(...)` would run. Training code that reads the CSV sees the
    quote, which never starts an ImageNet class name.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[dict], *, include_emails: bool = False) -> Iterator[str]:
    """CSV text, line by line (top-5 as JSON in one cell), every cell spreadsheet-safe."""
    fields = [*MANIFEST_FIELDS, "owner_email"] if include_emails else MANIFEST_FIELDS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writeheader()
    yield take()
    for row in rows:
        cells = {
            **row,
            "top5": json.dumps(row["top5"]),
            "created_at": _iso(row["created_at"]),
            "feedback_at": _iso(row["feedback_at"]),
            "reviewed_at": _iso(row["reviewed_at"]),
        }
        writer.writerow({name: spreadsheet_safe(value) for name, value in cells.items()})
        yield take()


def _iso(value) -> str:
    return value.isoformat() if value else ""


def write_imagenet_archive(queryset: QuerySet, target) -> int:
    """Write a zip of `<label>/<sha256>.<ext>` (one file per labelled image); return how many.

    Unlabelled predictions are skipped. Rows stream ordered by image, so the same bytes are
    written once, with the newest prediction's label. Extracted, the archive is what
    `keras.utils.image_dataset_from_directory` reads.
    """
    written = 0
    rows = queryset.order_by("image_sha256", "created_at", "id").iterator(chunk_size=CHUNK_SIZE)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for sha256, same_image in groupby(rows, key=itemgetter("image_sha256")):
            chosen = None
            for row in same_image:
                if training_label(row):
                    chosen = row
            if chosen is None:
                continue
            suffix = PurePosixPath(chosen["storage_name"]).suffix.lower() or ".jpg"
            name = f"{_folder(training_label(chosen))}/{sha256}{suffix}"
            with default_storage.open(chosen["storage_name"], "rb") as image:
                archive.writestr(name, image.read())
            written += 1
    return written


def _folder(label: str) -> str:
    """A class name as a folder name (ImageNet names hold no '/', but be safe)."""
    return label.replace("/", "_").replace("\\", "_")
