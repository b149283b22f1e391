"""The user's own model end to end (a Keras file, and an ONNX file exported with tf2onnx):
registered in the admin, validated by a real worker process, promoted, answering uploads
with its labels, offering them for feedback; rolled back without a worker restart.
"""

from __future__ import annotations

import time

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rq.suspension import resume, suspend

from classifier.models import Prediction
from mlworker.tests.tiny_models import COLORS, color_model, labels_file, solid_photo
from ops.stack import wait_until
from registry import services
from registry.models import ModelVersion
from testing.live_stack import live_auth_headers, live_upload, models_workers_run

pytestmark = [pytest.mark.slow]

FRENCH = ("rouge", "vert", "bleu")


def wait_for_state(version: ModelVersion, state: str, timeout: float = 180) -> ModelVersion:
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).state == state,
        timeout=timeout,
        interval=0.2,
        what=f"{version} to be {state}",
    )
    return ModelVersion.objects.get(pk=version.pk)


def answered_by(stack, headers, version: ModelVersion, color: str, timeout: float = 30) -> dict:
    """Upload photos until one is answered by `version` (a promotion takes effect within
    MODEL_LIVE_CHECK_SECONDS plus the load); return that answer."""
    answers: list[dict] = []
    seed = [int(time.monotonic() * 1000)]

    def try_once() -> bool:
        seed[0] += 1
        response = live_upload(stack, headers, solid_photo(color, seed[0]), timeout=60)
        assert response.status_code in (201, 202), response.text
        body = response.json()
        if body["status"] != "done":
            body = requests.get(
                f"{stack.url}/api/predictions/{body['id']}/?wait=30", headers=headers, timeout=60
            ).json()
        answers.append(body)
        return body["model_version"] == version.pk

    wait_until(try_once, timeout=timeout, interval=0.1, what=f"an upload answered by {version}")
    return answers[-1]


def register(tmp_path, name, labels, **model_options) -> ModelVersion:
    path = color_model(tmp_path / f"{name}-{len(labels)}.keras", **model_options)
    with open(path, "rb") as content:
        return services.register_version(
            name=name,
            content=content,
            filename=path.name,
            labels_text=labels_file(tmp_path / "labels.txt", labels).read_text(),
            preprocessing="unit",
            input_size=(32, 32),
        )


@pytest.mark.parametrize("fmt", ["keras", "onnx"])
def test_own_model_registered_in_admin_validated_promoted_and_served(
    live_stack, user, make_user, client, tmp_path, fmt
):
    stack = live_stack(workers=1, MODEL_CACHE_DIR=str(tmp_path / "worker-cache"))
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    model = color_model(tmp_path / f"colors.{fmt}", fmt=fmt)
    response = client.post(
        "/admin/registry/modelversion/add/",
        {
            "name": "colors",
            "weights_file": SimpleUploadedFile(model.name, model.read_bytes()),
            "labels_file": SimpleUploadedFile("labels.txt", b"red\ngreen\nblue\n"),
            "input_height": 32,
            "input_width": 32,
            "preprocessing": "unit",
        },
    )
    assert response.status_code == 302
    version = wait_for_state(ModelVersion.objects.get(name="colors"), "ready")
    assert version.format == fmt
    assert version.report["outputs"] == "probabilities"
    if fmt == "onnx":  # whatever the worker's INFERENCE_RUNTIME, an ONNX file runs on this
        assert version.report["runtime"] == "onnxruntime"
    page = client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert "Ready" in page and "validated" in page

    response = client.post(
        "/admin/registry/modelversion/",
        {"action": "promote", "_selected_action": [version.pk], "index": 0},
    )
    assert response.status_code == 302
    headers = live_auth_headers(stack, user)
    body = answered_by(stack, headers, version, "red")
    assert body["label"] == "red"
    assert {entry["label"] for entry in body["top5"]} == set(COLORS)  # 3 labels: a top 3
    assert body["model_name"] == "colors v1"
    assert live_upload(stack, headers, solid_photo("blue", 99)).json()["label"] == "blue"

    listed = requests.get(f"{stack.url}/api/models/", headers=headers, timeout=10).json()
    assert [(v["name"], v["version"], v["live"]) for v in listed if v["live"]] == [
        ("colors", 1, True)
    ]

    # The result page offers this model's labels for feedback, and feedback is read with them.
    user.refresh_from_db()  # the server's login may have re-hashed the password
    client.force_login(user)
    response = client.get(f"/predictions/{body['id']}/")
    assert response.status_code == 200, (response.status_code, response.headers)
    page = response.content.decode()
    assert "this model&#x27;s 3 labels" in page or "this model's 3 labels" in page
    assert '<option value="green">' in page and "great white shark" not in page
    answer = requests.post(
        f"{stack.url}/api/feedback/",
        headers=headers,
        json={"prediction": body["id"], "is_correct": False, "correct_label": "  GREEN "},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["correct_label"] == "green"


def test_roll_back_serves_the_previous_version_without_a_restart_and_queued_jobs_finish(
    live_stack, user, tmp_path, clean_redis
):
    stack = live_stack(
        workers=1, MODEL_CACHE_DIR=str(tmp_path / "worker-cache"), PREDICT_WAIT_SECONDS="0"
    )
    worker_pid = stack.workers[0].pid
    first = register(tmp_path, "colors", COLORS)
    second = register(tmp_path, "colors", FRENCH, logits=True)
    first, second = wait_for_state(first, "ready"), wait_for_state(second, "ready")
    assert second.report["outputs"] == "logits"
    headers = live_auth_headers(stack, user)

    services.promote_version(version=first)
    assert answered_by(stack, headers, first, "red")["label"] == "red"
    started = time.monotonic()
    services.promote_version(version=second)
    assert answered_by(stack, headers, second, "green")["label"] == "vert"
    print(f"promotion served after {time.monotonic() - started:.2f} s")

    # A job queued under the live version while the worker holds off, then a roll back.
    suspend(clean_redis)
    time.sleep(1)  # the worker is between dequeues at most one dequeue timeout
    queued = live_upload(stack, headers, solid_photo("blue", 7), timeout=60).json()
    assert queued["status"] == "queued" and queued["model_version"] == second.pk
    assert services.rollback().pk == first.pk
    resume(clean_redis)
    done = requests.get(
        f"{stack.url}/api/predictions/{queued['id']}/?wait=60", headers=headers, timeout=90
    ).json()
    assert done["status"] == "done"
    # Re-routed to the live version, and recorded as the version that answered it.
    assert (done["model_version"], done["label"]) == (first.pk, "blue")
    assert answered_by(stack, headers, first, "green")["label"] == "green"
    assert stack.workers[0].pid == worker_pid and stack.workers[0].poll() is None


def test_an_idle_worker_loads_a_new_canary_at_once_and_promoting_it_needs_no_second_load(
    live_stack, user, tmp_path, clean_redis
):
    stack = live_stack(
        workers=1, MODEL_CACHE_DIR=str(tmp_path / "worker-cache"), PREDICT_WAIT_SECONDS="0"
    )
    live = register(tmp_path, "colors", COLORS)
    candidate = register(tmp_path, "colors", FRENCH, logits=True)
    live, candidate = wait_for_state(live, "ready"), wait_for_state(candidate, "ready")
    services.promote_version(version=live)
    services.start_trial(version=candidate, trial="canary", share=100)

    worker_log = tmp_path / "logs" / "worker1.log"
    wait_until(
        lambda: (
            f"loaded candidate colors v{candidate.version} (canary)"
            in worker_log.read_text(errors="replace")
        ),
        timeout=60,
        interval=0.2,
        what="the idle worker to load the candidate",
    )
    assert not Prediction.objects.exists()  # loaded with no upload waiting for it

    headers = live_auth_headers(stack, user)
    assert answered_by(stack, headers, candidate, "green")["label"] == "vert"

    services.promote_version(version=candidate)
    wait_until(
        lambda: models_workers_run(clean_redis) == [f"colors v{candidate.version}"],
        timeout=30,
        interval=0.2,
        what="the worker to run the promoted candidate",
    )
    log = worker_log.read_text(errors="replace")
    assert f"model version {candidate.pk} (colors v{candidate.version}" in log
    assert "goes live as its trial loaded it" in log
    assert f"loaded model version {candidate.pk} " not in log  # not loaded a second time
    assert answered_by(stack, headers, candidate, "blue")["label"] == "bleu"
