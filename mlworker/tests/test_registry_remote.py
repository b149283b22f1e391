"""A worker on another host (its own network namespace, where the machine allows it) loads a
registry version it has never seen, from the object store, validates it and serves it.

It shares nothing with the web but PostgreSQL, Redis and the S3 store (the fixtures of
test_remote_workers.py): the version's file reaches it only through the store.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from mlworker.tests.test_registry_serving import answered_by, register, wait_for_state
from mlworker.tests.test_remote_workers import (  # noqa: F401 (fixtures)
    BASE_DIR,
    network_services,
    remote_worker_env,
    worker_host,
)
from mlworker.tests.tiny_models import COLORS
from ops.stack import stop_process
from registry import services
from testing.live_stack import live_auth_headers

pytestmark = [pytest.mark.slow]


def test_a_worker_on_another_host_fetches_validates_and_serves_a_new_version(
    live_stack,
    user,
    worker_host,  # noqa: F811
    network_services,  # noqa: F811
    tmp_path,
    settings,
):
    prefix = f"registry-{secrets.token_hex(4)}"
    shared = {**network_services.env, "S3_PREFIX": prefix}
    web_media = tmp_path / "web-media"
    web_media.mkdir()
    web_env = {name: value for name, value in shared.items() if name != "DATABASE_URL"}
    stack = live_stack(workers=0, PREDICT_WAIT_SECONDS="0", MEDIA_ROOT=str(web_media), **web_env)
    # This process registers and promotes like the web does: same store, same queue.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "classifier.s3storage.ImageS3Storage",
            "OPTIONS": network_services.store.storage_options(prefix=prefix),
        },
    }
    settings.RQ_QUEUES = {
        name: {**queue, "URL": shared["REDIS_URL"]} for name, queue in settings.RQ_QUEUES.items()
    }
    host_dir = tmp_path / "worker-host"
    (host_dir / "cwd").mkdir(parents=True)
    with open(tmp_path / "remote-worker.log", "wb") as log:
        worker = subprocess.Popen(
            worker_host.wrap([sys.executable, str(BASE_DIR / "manage.py"), "run_model_worker"]),
            cwd=host_dir / "cwd",
            env=remote_worker_env(shared, host_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        stack.workers.append(worker)
        stack.wait_ready(workers=1)
        if worker_host.isolated:
            assert not worker_host.can_reach("127.0.0.1", 5432)

        version = register(tmp_path, "colors", COLORS)
        stored = f"{prefix}/models/colors/{version.sha256}.keras"
        assert stored in network_services.store.list_keys(f"{prefix}/models/")
        version = wait_for_state(version, "ready")
        services.promote_version(version=version)
        body = answered_by(stack, live_auth_headers(stack, user), version, "blue", timeout=60)
        assert body["label"] == "blue" and body["model_name"].startswith("colors v1")
        # Its runtime is its own choice (auto: OpenVINO here); converted to fp32, it is
        # checked against Keras (int8 or bf16 stand on the accuracy gate's verdict).
        report = version.report
        if report["runtime"] != "tensorflow" and report["precision"] == "fp32":
            assert report["agrees_with_keras"].endswith("= keras on 6 samples")
    finally:
        stop_process(worker)
    # The worker fetched the file into its own cache, checked by digest; the web kept nothing.
    fetched = list((host_dir / "home").rglob(f"registry/{version.sha256}.keras"))
    assert len(fetched) == 1
    assert list(web_media.iterdir()) == []
