"""Registering versions (admin and import_model), the one-live rule, promotion rights, the API.

No model is loaded here: the web only checks what it can without one (name, format, size,
labels) and hands the file to a worker (mlworker/tests/test_registry_serving.py)."""

from __future__ import annotations

import io
import zipfile

import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from registry import selectors, services, spec
from registry.models import ModelEvent, ModelVersion

pytestmark = pytest.mark.django_db

LABELS = b"red\ngreen\nblue\n"


def zipped(content: bytes = b"not really a model") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", content)
    return buffer.getvalue()


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def add_through_admin(client, *, model: bytes, filename: str, labels: bytes = LABELS, **extra):
    data = {
        "name": "colors",
        "weights_file": SimpleUploadedFile(filename, model),
        "labels_file": SimpleUploadedFile("labels.txt", labels),
        "input_height": 32,
        "input_width": 32,
        "preprocessing": "unit",
        "mean": "",
        "std": "",
        **extra,
    }
    return client.post("/admin/registry/modelversion/add/", data)


def queued_validations() -> list:
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    return [job for job in queue.get_jobs() if job.func_name == spec.VALIDATE_JOB]


def ready_version(name="colors", number=1, state=ModelVersion.State.READY, **fields):
    return ModelVersion.objects.create(
        name=name, version=number, format="keras", labels=["a", "b"], state=state, **fields
    )


@pytest.mark.django_db(transaction=True)
def test_admin_registers_a_version_and_queues_its_validation(admin_client):
    response = add_through_admin(admin_client, model=zipped(), filename="colors.keras")
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ModelVersion.objects.get(name="colors")
    assert (version.name, version.version, version.state) == ("colors", 1, "validating")
    assert version.labels == ["red", "green", "blue"]
    assert version.format == "keras" and len(version.sha256) == 64
    assert version.created_by.email == "root@example.com"
    assert [job.args for job in queued_validations()] == [(version.pk,)]
    assert list(version.events.values_list("action", flat=True)) == ["registered"]
    # A second file under the same name is version 2; the first stays as it was.
    add_through_admin(admin_client, model=zipped(b"other"), filename="colors.keras")
    assert list(ModelVersion.objects.filter(name="colors").values_list("version", flat=True)) == [
        2,
        1,
    ]


@pytest.mark.parametrize(
    ("model", "filename", "labels", "message"),
    [
        (b"just some text", "colors.keras", LABELS, "not a zip archive"),
        (b"just some text", "colors.h5", LABELS, "no HDF5 signature"),
        (b"\x80\x04pickle", "colors.pkl", LABELS, "can run code when loaded"),
        (b"\x80\x04pickle", "colors.pt", LABELS, "can run code when loaded"),
        (zipped(), "colors.keras", b"only-one\n", "at least two labels"),
        (zipped(), "colors.keras", b"red\nred\nblue\n", "appears twice"),
        (zipped(), "colors.keras", b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_bad_files_get_a_clear_message_and_nothing_is_registered(
    admin_client, model, filename, labels, message
):
    response = add_through_admin(admin_client, model=model, filename=filename, labels=labels)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ModelVersion.objects.filter(name="colors").exists()
    assert not queued_validations()


def test_a_file_over_the_size_cap_is_refused(admin_client, settings):
    settings.MODEL_MAX_UPLOAD_MB = 0.001
    response = add_through_admin(admin_client, model=zipped(b"x" * 5000), filename="big.keras")
    assert "larger than 0.001 MB" in response.content.decode()
    assert not ModelVersion.objects.filter(name="colors").exists()


def test_import_model_command_refuses_bad_input_clearly(tmp_path):
    text = tmp_path / "model.keras"
    text.write_text("hello")
    labels = tmp_path / "labels.txt"
    labels.write_bytes(LABELS)
    with pytest.raises(CommandError, match="not a zip archive"):
        call_command("import_model", text, labels=labels, name="colors")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_model", tmp_path / "missing.keras", labels=labels, name="colors")
    with pytest.raises(CommandError, match="meanstd' needs a mean"):
        call_command("import_model", text, labels=labels, name="colors", preprocessing="meanstd")
    assert not ModelVersion.objects.filter(name="colors").exists()


def test_the_database_refuses_a_second_live_version():
    ready_version(number=1, state=ModelVersion.State.LIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        ready_version(number=2, state=ModelVersion.State.LIVE)


def test_promote_retires_the_live_one_and_roll_back_restores_it(django_user_model):
    first, second = ready_version(number=1), ready_version(number=2)
    services.promote_version(version=first)
    services.promote_version(version=second)
    assert dict(ModelVersion.objects.filter(name="colors").values_list("version", "state")) == {
        1: "retired",
        2: "live",
    }
    assert selectors.live_version().id == second.pk
    assert services.rollback().pk == first.pk
    assert selectors.live_version().id == first.pk
    assert ModelVersion.objects.get(pk=second.pk).state == "retired"
    actions = list(ModelEvent.objects.order_by("id").values_list("version__version", "action"))
    assert actions == [
        (1, "promoted"),
        (1, "retired"),
        (2, "promoted"),
        (2, "retired"),
        (1, "rolled_back"),
    ]


@pytest.mark.parametrize("state", ["validating", "failed"])
def test_an_unvalidated_version_cannot_go_live(state):
    live = ready_version(number=1, state=ModelVersion.State.LIVE)
    candidate = ready_version(number=2, state=state)
    with pytest.raises(services.PromotionRefused, match="only a validated version"):
        services.promote_version(version=candidate)
    with pytest.raises(CommandError, match="only a validated version"):
        call_command("promote_model", "colors", "2")
    assert ModelVersion.objects.get(state="live").pk == live.pk


def test_promote_in_the_admin_needs_the_promote_permission(client, make_user):
    version = ready_version()
    staff = make_user(email="staff@example.com", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_modelversion"),
        Permission.objects.get(codename="change_modelversion"),
    )
    client.force_login(staff)
    action = {"action": "promote", "_selected_action": [version.pk], "index": 0}
    client.post("/admin/registry/modelversion/", action)
    assert ModelVersion.objects.get(pk=version.pk).state == "ready"
    staff.user_permissions.add(Permission.objects.get(codename="promote_modelversion"))
    response = client.post("/admin/registry/modelversion/", action, follow=True)
    assert "Colors v1 is live." in response.content.decode()
    assert ModelVersion.objects.get(pk=version.pk).state == "live"
    event = ModelEvent.objects.get(action="promoted")
    assert event.actor == staff


def test_api_lists_versions_with_state_and_the_live_one_marked(api_client):
    ready_version(number=1, state=ModelVersion.State.LIVE)
    ready_version(number=2, state=ModelVersion.State.FAILED, failure_reason="wrong width")
    body = [v for v in api_client.get("/api/models/").json() if v["name"] == "colors"]
    assert [(v["version"], v["state"], v["live"]) for v in body] == [
        (2, "failed", False),
        (1, "live", True),
    ]
    assert body[0]["failure_reason"] == "wrong width"
    assert body[1]["label_count"] == 2 and body[1]["input_size"] == [224, 224]


def test_models_api_needs_a_login(client):
    assert client.get("/api/models/").status_code == 401


def test_the_live_version_is_read_once_per_check_period(settings):
    settings.MODEL_LIVE_CHECK_SECONDS = 60
    ready_version(number=1, state=ModelVersion.State.LIVE)
    selectors.forget_live_version()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert selectors.live_version().version == 1
    assert len(queries) == 1


def test_list_models_marks_the_live_version(capsys):
    ready_version(number=1, state=ModelVersion.State.LIVE)
    ready_version(number=2, state=ModelVersion.State.FAILED, failure_reason="wrong width")
    call_command("list_models")
    lines = [line for line in capsys.readouterr().out.splitlines() if "colors" in line]
    assert lines[0].startswith("  colors v2") and "wrong width" in lines[0]
    assert lines[1].startswith("* colors v1")
