"""Which labels a run trains on, and when it refuses to start (no worker: the run is only
planned and queued here; tests/test_train_digits.py trains one in a real worker)."""

from __future__ import annotations

import hashlib

import django_rq
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from classifier.models import Prediction
from feedback.models import Feedback
from quality.services import review_prediction
from registry.models import ModelVersion
from training import selectors, services
from training.models import TrainingRun

# The built-in versions' rows, which a transactional test that ran earlier in this process
# may have flushed (conftest.builtin_versions makes them again).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("builtin_versions")]

DIGITS = [str(d) for d in range(10)]


def answered(owner, seed: int, label: str = "envelope") -> Prediction:
    sha = hashlib.sha256(f"image-{seed}".encode()).hexdigest()
    return Prediction.objects.create(
        owner=owner,
        image=f"uploads/{sha}.png",
        image_sha256=sha,
        status=Prediction.Status.DONE,
        label=label,
        model_name="efficientnet_lite0",
        top5=[{"label": label, "score": 0.9}],
    )


def corrected(owner, seed: int, text: str) -> Prediction:
    prediction = answered(owner, seed)
    Feedback.objects.create(user=owner, prediction=prediction, is_correct=False, other_label=text)
    return prediction


def lite0() -> ModelVersion:
    return ModelVersion.objects.get(builtin_key="efficientnet_lite0")


def test_reviewed_label_beats_correction_beats_confirmation_and_free_text_needs_a_class(
    user, make_user
):
    reviewer = make_user(email="reviewer@example.com", is_staff=True)
    reviewed = answered(user, 1, label="tabby")
    Feedback.objects.create(
        user=user, prediction=reviewed, is_correct=False, correct_label="tiger_cat"
    )
    review_prediction(reviewer=reviewer, prediction=reviewed, label="Egyptian cat")
    confirmed = answered(user, 2, label="tabby")
    Feedback.objects.create(user=user, prediction=confirmed, is_correct=True)
    fixed = answered(user, 3, label="tabby")
    Feedback.objects.create(
        user=user, prediction=fixed, is_correct=False, correct_label="tiger_cat"
    )
    corrected(user, 4, "my neighbour's cat")  # names no class: left out
    Feedback.objects.create(user=user, prediction=answered(user, 5), is_correct=None)

    found = selectors.labelled_images(classes=("tabby", "tiger_cat", "Egyptian_cat"))

    assert {(i.sha256, i.label, i.source) for i in found} == {
        (reviewed.image_sha256, "Egyptian_cat", "reviewed"),
        (confirmed.image_sha256, "tabby", "confirmed"),
        (fixed.image_sha256, "tiger_cat", "corrected"),
    }


def test_free_text_counts_when_it_names_one_of_the_new_classes(user):
    corrected(user, 1, " 7 ")
    corrected(user, 2, "seven")
    found = selectors.labelled_images(classes=tuple(DIGITS))
    assert [(i.label, i.source) for i in found] == [("7", "corrected")]


def test_split_is_fixed_by_the_image_digest_and_holds_about_the_configured_share():
    digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(2000)]
    splits = [selectors.split_for(d) for d in digests]
    assert splits == [selectors.split_for(d) for d in digests]
    share = splits.count(selectors.VALIDATION) / len(splits)
    assert abs(share - settings.TRAINING_VALIDATION_SHARE) < 0.04


def test_too_few_images_per_class_is_refused_with_the_short_classes_and_nothing_queued(
    user, settings, clean_redis
):
    settings.TRAINING_MIN_IMAGES_PER_CLASS = 3
    for seed in range(3):
        corrected(user, seed, "0")
    corrected(user, 10, "1")

    with pytest.raises(services.TrainingRefused, match=r"at least 3 .*Short: 1: 1, 2: 0"):
        services.start_training(
            base=lite0(), name="digits", label_set="new", classes=["0", "1", "2"]
        )
    with pytest.raises(CommandError, match="Too few labelled images"):
        call_command(
            "train_model", "--base", "efficientnet_lite0:1", "--labels", "new", "--classes", "0,1"
        )
    assert not TrainingRun.objects.exists()
    assert django_rq.get_queue(settings.TRAINING_QUEUE).count == 0


def test_base_labels_train_the_classes_that_have_examples(user, settings):
    settings.TRAINING_MIN_IMAGES_PER_CLASS = 2
    for seed in range(4):
        prediction = answered(user, seed, label="tabby" if seed % 2 else "goldfish")
        Feedback.objects.create(user=user, prediction=prediction, is_correct=True)
    plan = services.plan_training(base=lite0(), name="pets", label_set="base")
    assert plan.classes == ("goldfish", "tabby")
    assert plan.counts["total"] == {"goldfish": 2, "tabby": 2}


def test_a_version_still_validating_or_a_bad_name_cannot_start(user):
    validating = ModelVersion.objects.create(name="new", version=1, format="keras")
    with pytest.raises(services.TrainingRefused, match="validated version"):
        services.plan_training(base=validating, name="x")
    with pytest.raises(services.TrainingRefused, match="lowercase"):
        services.plan_training(base=lite0(), name="Not A Name")


def test_command_queues_the_run_for_a_training_worker_with_its_counts(
    user, settings, clean_redis, capsys, django_capture_on_commit_callbacks
):
    settings.TRAINING_MIN_IMAGES_PER_CLASS = 2
    for seed in range(6):
        corrected(user, seed, str(seed % 2))

    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "train_model",
            "--base",
            "efficientnet_lite0",
            "--labels",
            "new",
            "--classes",
            "0,1",
            "--name",
            "bits",
            "--no-wait",
        )

    run = TrainingRun.objects.get()
    assert (run.name, run.classes, run.state) == ("bits", ["0", "1"], "queued")
    assert len(run.dataset) == 6 and run.counts["total"] == {"0": 3, "1": 3}
    queue = django_rq.get_queue(settings.TRAINING_QUEUE)
    assert queue.job_ids == [run.job_id]
    assert queue.fetch_job(run.job_id).func_name == "training.jobs.train"
    assert "0: " in capsys.readouterr().out


def test_admin_starts_refuses_and_cancels_runs(
    client, make_user, user, settings, clean_redis, django_capture_on_commit_callbacks
):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    admin_client = client
    settings.TRAINING_MIN_IMAGES_PER_CLASS = 2
    corrected(user, 1, "0")
    form = {"base": lite0().pk, "name": "bits", "label_set": "new", "classes_text": "0\n1"}

    page = admin_client.post("/admin/training/trainingrun/add/", form)
    assert page.status_code == 200 and "Too few labelled images" in page.content.decode()
    assert not TrainingRun.objects.exists()

    for seed in range(2, 6):
        corrected(user, seed, str(seed % 2))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/training/trainingrun/add/", form)
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.created_by.is_superuser and run.state == "queued"
    assert django_rq.get_queue(settings.TRAINING_QUEUE).job_ids == [run.job_id]
    page = admin_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert "Waiting for a training worker" in page and "<progress" in page

    admin_client.post(
        "/admin/training/trainingrun/",
        {"action": "cancel_runs", "_selected_action": [run.pk], "index": 0},
    )
    run.refresh_from_db()
    assert run.state == "cancelled"
    assert not services.begin(run_id=run.pk)  # the worker that dequeues it does nothing


def test_the_result_page_shows_accuracy_against_the_baseline_per_class_matrix_and_curve(
    client, make_user, user
):
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    run = TrainingRun.objects.create(
        base=lite0(),
        name="bits",
        label_set="new",
        classes=["0", "1"],
        counts={"train": {"0": 8, "1": 8}, "validation": {"0": 2, "1": 2}, "imbalance": 1.0},
        state="done",
        progress=1.0,
        version=ModelVersion.objects.get(builtin_key="resnet50"),
        result={
            "validation_accuracy": 0.75,
            "validation_images": 4,
            "majority_baseline": 0.5,
            "per_class_accuracy": {"0": 1.0, "1": 0.5},
            "confusion_matrix": [[2, 0], [1, 1]],
            "curve": [{"epoch": 1, "accuracy": 0.6, "val_accuracy": 0.5}],
        },
    )
    page = client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert "75.0% on 4 images (majority class: 50.0%)" in page
    assert "<td>2</td><td>0</td>" in page and "1: 50.0%" in page
    assert 'aria-label="training curve"' in page
    assert "resnet50 v1 (ready)" in page


def test_a_run_whose_job_failed_or_vanished_is_shown_failed_not_running_forever(
    client, make_user, user, settings, clean_redis, django_capture_on_commit_callbacks
):
    from rq.job import Job, JobStatus

    settings.TRAINING_MIN_IMAGES_PER_CLASS = 2
    for seed in range(4):
        corrected(user, seed, str(seed % 2))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.start_training(base=lite0(), name="a", label_set="new", classes=["0", "1"])
        second = services.start_training(
            base=lite0(), name="b", label_set="new", classes=["0", "1"]
        )
    first.refresh_from_db()
    second.refresh_from_db()
    assert not services.settle_lost_run(run=first)  # still waiting in the queue: left alone

    Job.fetch(first.job_id, connection=clean_redis).set_status(JobStatus.FAILED)
    clean_redis.delete(f"rq:job:{second.job_id}")
    client.force_login(make_user(email="root@example.com", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/training/trainingrun/{first.pk}/change/").content.decode()
    assert "stopped without finishing it (job failed)" in page
    assert services.settle_lost_run(run=second) and second.state == "failed"
    assert "(job gone)" in second.failure_reason
