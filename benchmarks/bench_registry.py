"""How long a promotion takes to serve new uploads, and what each loaded version costs a worker.

    .venv/bin/python -m benchmarks.bench_registry [--rounds 2]

Starts gunicorn and one `run_model_worker` (ops.stack) on DATABASE_URL / REDIS_URL (migrated
here), registers two MobileNetV2-shaped Keras versions (random weights, 224×224, 5 and 7
labels) and a third, lets the worker validate them, then promotes them in turn. For each
promotion it prints the seconds from the promotion's commit to the first upload answered
by that version (uploads every 50 ms), and the worker's resident memory (RSS) after it.
The first promotion of a version includes fetching it from storage, loading it and warming
it up (in a thread: the previous version keeps answering, which the upload count and the
slowest upload's time show); later ones switch between versions the worker still holds
(it keeps two).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.load.photos import noise_jpeg
from benchmarks.load.users import account_password


def build_model(path: Path, classes: int) -> Path:
    import keras

    keras.applications.MobileNetV2(weights=None, classes=classes, input_shape=(224, 224, 3)).save(
        path
    )
    return path


def register(path: Path, name: str, classes: int):
    from registry import services

    with open(path, "rb") as content:
        return services.register_version(
            name=name,
            content=content,
            filename=path.name,
            labels_text="\n".join(f"class-{i}" for i in range(classes)),
            preprocessing="tf",
            input_size=(224, 224),
        )


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    import requests
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from ops.stack import Stack, StackConfig, free_port, wait_until
    from registry import services
    from registry.models import ModelVersion

    call_command("migrate", verbosity=0)
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    versions = [
        register(build_model(work / f"m{classes}.keras", classes), f"bench-{classes}", classes)
        for classes in (5, 7, 9)
    ]
    size_mb = versions[0].size_bytes / 2**20
    user_model = get_user_model()
    user = user_model.objects.filter(email="bench-registry@example.com").first()
    if user is None:
        user = user_model.objects.create_user(
            email="bench-registry@example.com", password=account_password(), name="bench"
        )
    env = {
        "RESNET50_WEIGHTS": "random",
        "CLASSIFIER_MODEL": "resnet50",
        "INFERENCE_RUNTIME": "tensorflow",
        "MODEL_CACHE_DIR": str(work / "cache"),
        "WORKER_HEARTBEAT_SECONDS": "2",
        "DEBUG": "1",
    }
    stack = Stack(StackConfig(web_port=free_port(), env=env, log_dir=work / "logs")).start()
    try:
        wait_until(
            lambda: all(ModelVersion.objects.get(pk=v.pk).state == "ready" for v in versions),
            timeout=600,
            what="the worker to validate the versions",
        )
        token = requests.post(
            f"{stack.url}/api/auth/token/",
            json={"email": user.email, "password": account_password()},
            timeout=10,
        ).json()["access"]
        headers = {"Authorization": f"Bearer {token}"}
        worker_pid = stack.workers[0].pid
        time.sleep(3)
        print(f"model file: {size_mb:.1f} MB (MobileNetV2, random weights, 224x224)")
        print(f"worker RSS with the built-in resnet50 only: {rss_mb(worker_pid):.0f} MB")
        seed = [0]

        latencies: list[float] = []

        def answered_by(version) -> bool:
            seed[0] += 1
            sent = time.perf_counter()
            body = requests.post(
                f"{stack.url}/api/predictions/",
                headers=headers,
                files={"image": ("p.jpg", noise_jpeg(seed[0], (96, 96)))},
                timeout=60,
            ).json()
            latencies.append(time.perf_counter() - sent)
            return body.get("model_version") == version.pk

        order = [versions[0], versions[1]] * args.rounds + [versions[2], versions[0]]
        for version in order:
            latencies.clear()
            services.promote_version(version=version)
            started = time.perf_counter()
            wait_until(lambda v=version: answered_by(v), timeout=120, interval=0.05)
            seconds = time.perf_counter() - started
            print(
                f"promote {version.name} v{version.version}: served after {seconds:.2f} s "
                f"({len(latencies) - 1} uploads answered by the previous version meanwhile, "
                f"slowest upload {max(latencies):.2f} s); worker RSS {rss_mb(worker_pid):.0f} MB"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
