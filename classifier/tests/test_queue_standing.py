"""Pending answers tell the client where it stands: queue position and an estimated time."""

from __future__ import annotations

import re

import django_rq
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier import queueing
from testing.live_stack import TEST_MODEL_NAME
from testing.photos import distinct_photo

pytestmark = pytest.mark.django_db


def upload(client, seed: int):
    return client.post(
        "/api/predictions/",
        {"image": SimpleUploadedFile(f"{seed}.jpg", distinct_photo(seed))},
        format="multipart",
    )


@pytest.fixture
def three_waiting(api_client, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    answers = [upload(api_client, seed) for seed in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    return answers


def test_202_answers_give_the_queue_position(three_waiting):
    assert [a.json()["queue_position"] for a in three_waiting] == [1, 2, 3]


def test_without_a_measured_pace_the_estimate_is_null(three_waiting):
    assert [a.json()["estimated_seconds"] for a in three_waiting] == [None, None, None]


def test_the_estimate_comes_from_the_live_workers_measured_pace(
    api_client, three_waiting, live_model
):
    connection = django_rq.get_queue(settings.INFERENCE_QUEUE).connection
    # A batch of 4 images in 2 s: 0.5 s per image, 2 images/s.
    queueing.record_pace(connection, worker_name="w1", seconds=2.0, images=4)
    live_model(worker="w1")
    third = api_client.get(three_waiting[2].json()["url"]).json()
    assert third["queue_position"] == 3
    assert third["estimated_seconds"] == pytest.approx(1.5)
    # A second worker at the same pace halves it.
    queueing.record_pace(connection, worker_name="w2", seconds=2.0, images=4)
    live_model(worker="w2")
    third = api_client.get(three_waiting[2].json()["url"]).json()
    assert third["estimated_seconds"] == pytest.approx(0.8)  # 0.75, rounded to 0.1 s


def test_a_worker_no_longer_live_does_not_count_in_the_estimate(
    api_client, three_waiting, live_model
):
    connection = django_rq.get_queue(settings.INFERENCE_QUEUE).connection
    queueing.record_pace(connection, worker_name="w1", seconds=2.0, images=4)
    queueing.record_pace(connection, worker_name="gone", seconds=0.1, images=4)
    live_model(worker="w1")
    third = api_client.get(three_waiting[2].json()["url"]).json()
    assert third["estimated_seconds"] == pytest.approx(1.5)
    queueing.withdraw_live_model(connection, worker_name="w1", model_name=TEST_MODEL_NAME)
    third = api_client.get(three_waiting[2].json()["url"]).json()
    assert third["queue_position"] == 3 and third["estimated_seconds"] is None


def test_the_moving_average_follows_new_batches(live_model):
    connection = django_rq.get_queue(settings.INFERENCE_QUEUE).connection
    live_model(worker="w")
    queueing.record_pace(connection, worker_name="w", seconds=1.0, images=1)
    queueing.record_pace(connection, worker_name="w", seconds=2.0, images=1)
    assert queueing.images_per_second(connection) == pytest.approx(1 / 1.2)


def test_the_list_shows_standings_and_finished_ones_have_none(
    api_client, three_waiting, run_worker
):
    listed = api_client.get("/api/predictions/").json()["results"]
    assert sorted(p["queue_position"] for p in listed) == [1, 2, 3]
    run_worker()
    done = api_client.get(three_waiting[0].json()["url"]).json()
    assert done["status"] == "done"
    assert done["queue_position"] is None and done["estimated_seconds"] is None


def test_the_result_page_shows_position_and_time_while_pending(
    client, user, three_waiting, live_model
):
    connection = django_rq.get_queue(settings.INFERENCE_QUEUE).connection
    queueing.record_pace(connection, worker_name="w1", seconds=2.0, images=4)
    live_model(worker="w1")
    client.force_login(user)
    page = client.get(f"/predictions/{three_waiting[1].json()['id']}/").content.decode()
    position = re.search(r'id="queue-position-line"[^>]*>(.*?)</p>', page, re.S)
    assert position and "hidden" not in position.group(0).split(">")[0]
    assert re.sub(r"<[^>]+>", "", position.group(1)) == "Number 2 in the queue."
    eta = re.search(r'id="queue-eta-line"[^>]*>(.*?)</p>', page, re.S)
    assert re.sub(r"<[^>]+>", "", eta.group(1)) == "About 1 s to go."


def test_the_result_page_hides_the_estimate_when_nothing_was_measured(client, user, three_waiting):
    client.force_login(user)
    page = client.get(f"/predictions/{three_waiting[0].json()['id']}/").content.decode()
    assert re.search(r'id="queue-eta-line"[^>]* hidden', page)
    assert not re.search(r'id="queue-position-line"[^>]* hidden', page)
