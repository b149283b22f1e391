"""The loop closed on real labels: a user uploads handwritten digits (scikit-learn's
`load_digits` as photos) through the API and corrects each answer with the true digit;
`train_model` queues a run that a real training worker (`rqworker training`) trains on
EfficientNet-Lite0's frozen features; the model worker validates the new version; it runs
in shadow beside the live model, then as a canary for a share of users, the dashboard's
comparisons checked against counts made here (`training/tests/trials.py`); once promoted,
held-out digits come back as digits at about the validation accuracy.

PostgreSQL, Redis, gunicorn and both workers are real processes. Sized to run in minutes.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from classifier.models import Prediction
from ops.stack import wait_until
from registry import services as registry_services
from registry.models import ModelVersion
from testing.live_stack import live_auth_headers, live_upload, models_workers_run, subprocess_env
from training.digits import CLASSES, digit_photos
from training.models import TrainingRun
from training.tests.trials import run_canary, run_shadow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

TRAINED = 250  # 25 per digit: 200 train, 50 validation (by digest)
HELD_OUT = slice(1700, 1760)  # never uploaded before the promotion
SHADOWED = slice(1000, 1060)  # held out from training: the shadow's uploads
CANARY = slice(1100, 1196)  # held out: six users' uploads during the canary
SHADOW_PROBES, CANARY_PROBES = slice(1300, 1340), slice(1400, 1440)
TIMEOUT = 900


def upload_all(stack, headers, photos) -> list[str]:
    def one(content: bytes) -> str:
        response = live_upload(stack, headers, content, name="digit.png", timeout=60)
        assert response.status_code in (201, 202), response.text
        return response.json()["id"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, photos))


def answers(stack, headers, ids: list[str]) -> list[dict]:
    wait_until(
        lambda: Prediction.objects.filter(pk__in=ids, status="done").count() == len(ids),
        timeout=TIMEOUT,
        interval=1,
        what=f"{len(ids)} answers",
    )
    return [
        requests.get(f"{stack.url}/api/predictions/{pk}/", headers=headers, timeout=30).json()
        for pk in ids
    ]


@dataclass
class Uploads:
    """Uploads and answers of one stack, by default as `headers`' user."""

    stack: Any
    headers: dict
    client: Any
    make_user: Any

    def upload_all(self, photos, headers=None) -> list[str]:
        return upload_all(self.stack, headers or self.headers, photos)

    def answers(self, ids, headers=None) -> list[dict]:
        return answers(self.stack, headers or self.headers, ids)


def test_users_corrections_train_a_digit_model_that_answers_new_digits_once_promoted(
    live_stack, builtin_versions, user, make_user, client, tmp_path, clean_redis
):
    env = {
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "INFERENCE_RUNTIME": "tensorflow",
        "TRAINING_EPOCHS": "20",
    }
    # Uploads are sent four at a time without waiting: lift the per-user cap on waiting jobs.
    stack = live_stack(workers=1, PREDICT_WAIT_SECONDS="0", MAX_QUEUED_PER_USER="1000", **env)
    headers = live_auth_headers(stack, user)
    photos, digits = digit_photos()

    ids = upload_all(stack, headers, photos[:TRAINED])
    for answer, digit in zip(answers(stack, headers, ids), digits[:TRAINED], strict=True):
        sent = requests.post(
            f"{stack.url}/api/feedback/",
            headers=headers,
            json={"prediction": answer["id"], "is_correct": False, "correct_label": str(digit)},
            timeout=10,
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["other_label"] == str(digit)  # not an ImageNet class: free text

    command = [
        sys.executable, "manage.py", "train_model", "--base", "efficientnet_lite0:1",
        "--labels", "new", "--classes", ",".join(CLASSES), "--name", "digits",
    ]  # fmt: skip
    trainer = [sys.executable, "manage.py", "rqworker", "training", "--burst"]
    printed_to = tmp_path / "train_model.out"
    with (
        open(printed_to, "w") as out,
        subprocess.Popen(command, env=subprocess_env(**env), stdout=out, text=True) as follower,
    ):
        wait_until(TrainingRun.objects.exists, timeout=120, what="the run to be queued")
        worker = subprocess.run(
            trainer, env=subprocess_env(**env), timeout=TIMEOUT, capture_output=True, text=True
        )
        assert worker.returncode == 0, worker.stderr[-3000:]
        follower.wait(timeout=60)
    printed = printed_to.read_text()
    assert follower.returncode == 0, printed
    run = TrainingRun.objects.get()
    result = run.result
    print(printed[-1500:], result["seconds"])
    assert run.state == "done" and "] 100% " in printed and "validation accuracy" in printed
    assert result["train_images"] + result["validation_images"] == TRAINED
    assert sum(map(sum, result["confusion_matrix"])) == result["validation_images"]
    assert result["features_computed"] == TRAINED
    baseline = result["majority_baseline"]
    assert result["validation_accuracy"] >= 3 * baseline, result

    version = run.version
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).state == "ready",
        timeout=TIMEOUT,
        what="the model worker to validate the trained version",
    )
    version.refresh_from_db()
    assert version.labels == list(CLASSES) and version.format == "keras"

    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    shown = f"{100 * result['validation_accuracy']:.1f}%"
    assert shown in page and "Confusion matrix" in page and "<svg" in page

    client.logout()
    ctx = Uploads(stack, headers, client, make_user)
    shadow = run_shadow(ctx, version, photos[SHADOWED], digits[SHADOWED], photos[SHADOW_PROBES])
    canary = run_canary(ctx, version, photos[CANARY], digits[CANARY], stack, photos[CANARY_PROBES])
    print("shadow", shadow, "canary", canary["canary"], "versions", canary["versions"])

    registry_services.promote_version(version=version, actor=admin)
    version.refresh_from_db()
    assert version.trial == "" and version.events.filter(action="trial_ended").exists()
    # The worker held the candidate for its trial: it serves it as the live version from its
    # next batch (an upload answered by it is not yet proof: a worker's candidate answers
    # canary uploads for up to MODEL_LIVE_CHECK_SECONDS after the trial ends).
    wait_until(
        lambda: models_workers_run(clean_redis) == [version.display_name],
        timeout=300,
        interval=0.2,
        what="the worker to serve the promoted version",
    )
    held_out = answers(stack, headers, upload_all(stack, headers, photos[HELD_OUT]))
    assert {a["model_version"] for a in held_out} == {version.pk}
    right = sum(a["label"] == str(d) for a, d in zip(held_out, digits[HELD_OUT], strict=True))
    accuracy = right / len(held_out)
    print(f"held-out accuracy {accuracy:.3f} on {len(held_out)} digits")
    assert accuracy >= min(result["validation_accuracy"] - 0.2, 0.6)
    assert accuracy >= 3 * baseline
    client.force_login(admin)
    after = client.get("/api/quality/trials/").json()
    # The shadow figures as the canary left them: a worker still holding the shadow trial for
    # up to MODEL_LIVE_CHECK_SECONDS after the canary began may have added a comparison then.
    assert after["candidate"] == "" and after["shadow"] == canary["shadow"], "history kept"
    kept = {row["version_id"]: row["accuracy"] for row in after["versions"]}
    canary_before = {row["version_id"]: row["accuracy"] for row in canary["versions"]}
    assert kept[version.pk]["total"] == canary_before[version.pk]["total"], "history kept"
