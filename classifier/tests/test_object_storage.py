"""Images in an S3-compatible object store: a real SeaweedFS server, no mock.

Content addressing, "same bytes stored once" without reading objects back, private
objects served only to their owner, and a store outage answered 503 with nothing kept.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import django_rq
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classifier.models import Prediction
from testing.clients import jwt_client
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]


def upload(client, content: bytes, name: str = "photo.jpg"):
    return client.post(
        "/api/predictions/", {"image": SimpleUploadedFile(name, content)}, format="multipart"
    )


def s3_calls():
    """Record the S3 operations the default storage makes (botocore's own event hook)."""
    calls: list[str] = []
    default_storage.client.meta.events.register(
        "before-call.s3", lambda model, **kwargs: calls.append(model.name)
    )
    return calls


def test_an_upload_lands_in_the_bucket_under_its_content_hash(api_client, s3_storage, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    response = upload(api_client, photo_bytes("coffee"))
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get()
    assert s3_storage.keys() == [s3_storage.key(prediction.image.name)]
    assert prediction.image.name == (
        f"images/{prediction.image_sha256[:2]}/{prediction.image_sha256}.jpg"
    )
    head = s3_storage.server.client().head_object(
        Bucket=s3_storage.server.bucket, Key=s3_storage.key(prediction.image.name)
    )
    assert head["Metadata"]["sha256"] == prediction.image_sha256
    assert head["ContentLength"] == len(photo_bytes("coffee"))


def test_same_bytes_are_stored_once_and_checked_with_one_head_request(
    api_client, make_user, s3_storage, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    content = photo_bytes("rocket")
    assert upload(api_client, content).status_code == 202
    calls = s3_calls()
    # The same photo again, from its owner and from someone else.
    assert upload(api_client, content, "again.jpg").status_code == 202
    assert upload(jwt_client(make_user(email="bob@example.com")), content).status_code == 202
    assert calls == ["HeadObject", "HeadObject"]  # no download, no second PUT
    assert len(s3_storage.keys()) == 1
    assert Prediction.objects.count() == 3


def test_an_object_with_other_bytes_under_the_name_is_written_again(
    api_client, s3_storage, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    content = photo_bytes("astronaut")
    upload(api_client, content)
    name = Prediction.objects.get().image.name
    client, bucket = s3_storage.server.client(), s3_storage.server.bucket
    client.put_object(Bucket=bucket, Key=s3_storage.key(name), Body=content[:1000])  # cut short
    assert upload(api_client, content, "again.jpg").status_code == 202
    stored = client.get_object(Bucket=bucket, Key=s3_storage.key(name))
    assert stored["Body"].read() == content
    assert stored["Metadata"]["sha256"] == Prediction.objects.first().image_sha256


def test_objects_put_there_by_another_tool_are_recognised_by_their_md5_etag(
    api_client, s3_storage, settings
):
    """An operator who copied the images with `aws s3 sync` loses no deduplication."""
    settings.PREDICT_WAIT_SECONDS = 0
    content = photo_bytes("camera", "PNG")
    upload(api_client, content)
    name = Prediction.objects.get().image.name
    client, bucket = s3_storage.server.client(), s3_storage.server.bucket
    client.put_object(Bucket=bucket, Key=s3_storage.key(name), Body=content)  # no metadata
    calls = s3_calls()
    assert upload(api_client, content, "again.png").status_code == 202
    assert calls == ["HeadObject"]


def test_the_image_is_streamed_to_its_owner_only(
    api_client, user, other_user, s3_storage, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    content = photo_bytes("chelsea")
    image_url = upload(api_client, content).json()["image_url"]
    owner = Client()
    owner.force_login(user)
    response = owner.get(image_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Cache-Control"] == "private, max-age=3600"
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(image_url).status_code == 404
    assert Client().get(image_url).status_code == 302  # to the login page


def test_objects_are_private_in_the_bucket(api_client, s3_storage, settings):
    """Nobody reads an image from the store without credentials, by any URL."""
    settings.PREDICT_WAIT_SECONDS = 0
    upload(api_client, photo_bytes("coffee"))
    key = s3_storage.key(Prediction.objects.get().image.name)
    server = s3_storage.server
    for url in (
        f"{server.endpoint_url}/{server.bucket}/{key}",
        f"{server.endpoint_url}/{server.bucket}",
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 403
    acl = server.client().get_object_acl(Bucket=server.bucket, Key=key)
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"].get("ID") == acl["Owner"].get("ID")


def test_upload_and_worker_never_touch_media_root(
    api_client, s3_storage, settings, run_worker, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "nowhere"
    settings.PREDICT_WAIT_SECONDS = 0
    response = upload(api_client, distinct_photo(7))
    run_worker()
    prediction = api_client.get(response.json()["url"]).json()
    assert prediction["status"] == "done", prediction
    assert not (tmp_path / "nowhere").exists()


def test_no_code_reads_media_root_directly():
    """Web and worker go through the storage API only; MEDIA_ROOT is the filesystem
    storage's business (settings.py), so a worker on another host needs no shared disk."""
    reads = re.compile(r"settings\.MEDIA_ROOT|[\"']MEDIA_ROOT[\"']|storage\.path\(|MEDIA_URL")
    # settings.py reads it from the environment; testenv.py gives the tests a temp folder.
    allowed = {Path("config/settings.py"), Path("config/testenv.py")}
    offenders = []
    for app in ("accounts", "classifier", "feedback", "mlworker", "ops", "config"):
        for path in (BASE_DIR / app).rglob("*.py"):
            relative = path.relative_to(BASE_DIR)
            if "tests" in relative.parts or relative in allowed:
                continue
            offenders += [f"{relative}: {m.group()}" for m in reads.finditer(path.read_text())]
    assert offenders == []


# --- An outage of the store ---------------------------------------------------------------
@pytest.fixture
def lone_seaweedfs(settings):
    """A SeaweedFS server of this test's own, since the test kills it."""
    from testing.seaweedfs import SeaweedS3

    server = SeaweedS3().start()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "classifier.s3storage.ImageS3Storage",
            "OPTIONS": server.storage_options(),
        },
    }
    yield server
    server.close()


def test_a_store_outage_answers_503_keeps_nothing_and_uploads_work_again_after(
    api_client, user, lone_seaweedfs, settings
):
    settings.PREDICT_WAIT_SECONDS = 0
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    before = upload(api_client, distinct_photo(1))
    assert before.status_code == 202
    keys = lone_seaweedfs.list_keys()
    lone_seaweedfs.kill()

    response = upload(api_client, distinct_photo(2))
    assert response.status_code == 503
    assert response.json()["detail"] == "The image store is unavailable. Try again shortly."
    assert response["Retry-After"] == "5"
    page = Client()
    page.force_login(user)
    form = page.post("/", {"image": SimpleUploadedFile("cat.jpg", distinct_photo(3))})
    assert form.status_code == 503
    assert "The image store is unavailable" in form.content.decode()
    image = page.get(before.json()["image_url"])
    assert image.status_code == 503
    assert "The image store is unavailable" in image.content.decode()
    assert Prediction.objects.count() == 1
    assert queue.count == 1

    lone_seaweedfs.start()
    assert lone_seaweedfs.list_keys() == keys  # nothing half-written during the outage
    after = upload(api_client, distinct_photo(2))
    assert after.status_code == 202, after.content
    assert Prediction.objects.count() == 2
    assert len(lone_seaweedfs.list_keys()) == len(keys) + 1


def test_a_worker_facing_a_store_outage_retries_instead_of_calling_the_image_missing(
    api_client, lone_seaweedfs, settings, run_worker
):
    settings.PREDICT_WAIT_SECONDS = 0
    response = upload(api_client, distinct_photo(5))
    lone_seaweedfs.kill()
    run_worker()  # burst: every attempt runs now, while the store is still down
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.attempts == settings.PREDICTION_MAX_ATTEMPTS
    assert prediction.error == (
        "Classification failed after repeated attempts (the image store was unavailable)."
    )


def test_compose_web_and_worker_share_no_media_volume_only_the_object_store():
    import yaml

    services = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]
    assert "objectstore" in services
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["STORAGE_BACKEND"] == "s3"
        assert env["S3_ENDPOINT_URL"].startswith("http://objectstore:")
        assert "MEDIA_ROOT" not in env
        assert not [volume for volume in services[name].get("volumes", []) if "media" in volume]
