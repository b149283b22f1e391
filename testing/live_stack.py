"""The servers and workers a test starts as real processes (`conftest.live_stack`,
`shared_stack`), and talking to them over HTTP as a client would."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

#: the name the suite's workers publish and record (ResNet50, random weights, TensorFlow)
TEST_MODEL_NAME = "resnet50 (random weights)"
#: the password `make_user` gives (the server checks it for real)
TEST_PASSWORD = "correct-horse-42"


def subprocess_env(**overrides) -> dict[str, str]:
    """Environment for a server or worker process that must share this test run's database,
    Redis and media folder."""
    from django.db import connection

    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    database_url = f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        # the product's settings, with the suite's quick password hashing
        "DJANGO_SETTINGS_MODULE": "testing.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_REDIS_URL": settings.CACHE_REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEBUG": "1",
        "RESNET50_WEIGHTS": "random",
        "CLASSIFIER_MODEL": "resnet50",
        "WORKER_HEARTBEAT_SECONDS": "2",
        "TF_INTRA_OP_THREADS": "1",
        "TF_INTER_OP_THREADS": "1",
        **overrides,
    }


def start_stack(log_dir: Path, workers: int = 1, worker_args=None, web_processes: int = 1, **env):
    """gunicorn (8 threads) + `workers` model workers on this run's database and Redis."""
    from ops.stack import Stack, StackConfig, free_port

    config = StackConfig(
        web_port=free_port(),
        workers=workers,
        worker_args=worker_args or [],
        web_processes=web_processes,
        web_threads=8,
        env=subprocess_env(**env),
        log_dir=log_dir,
        ready_timeout=120,
    )
    return Stack(config).start()


def live_auth_headers(stack, user, password: str = TEST_PASSWORD) -> dict:
    """A Bearer header for `user`, obtained from the running server's token endpoint."""
    import requests

    response = requests.post(
        f"{stack.url}/api/auth/token/",
        json={"email": user.email, "password": password},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access']}"}


def live_upload(stack, headers, content: bytes, name: str = "photo.jpg", timeout: float = 60):
    """POST an image to the running server's /api/predictions/ as an API client would."""
    import requests

    return requests.post(
        f"{stack.url}/api/predictions/",
        headers=headers,
        files={"image": (name, content)},
        timeout=timeout,
    )


def models_workers_run(connection) -> list[str]:
    """The models the live workers publish, without the runtime suffix ("colors v2", not
    "colors v2+openvino-fp32")."""
    from classifier import queueing

    return [name.split("+")[0] for name in queueing.live_model_names(connection)]
