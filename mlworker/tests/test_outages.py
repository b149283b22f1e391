"""Outages of what the web and the workers depend on: Redis, the database, the workers.

Real processes only. Redis is a private `EmbeddedRedis` on a free port, stopped and
started again on the same port (the shared Redis and PostgreSQL are never touched).
One database outage is a web server whose DATABASE_URL points at a closed port; the one
that ends is a TCP relay in front of PostgreSQL (testing/relay.py), cut and then restored.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

import pytest
import requests
from rest_framework_simplejwt.tokens import AccessToken

from classifier.models import Prediction
from classifier.tests.reliability_doc import check_section
from ops.stack import EmbeddedRedis, Stack, StackConfig, free_port, port_open, wait_until
from testing.live_stack import TEST_PASSWORD, live_auth_headers, subprocess_env
from testing.photos import distinct_photo
from testing.relay import relay_to_test_database

pytestmark = [pytest.mark.slow]


# --- Helpers -------------------------------------------------------------------------------


def browser_session(stack, user) -> requests.Session:
    """Logged in through the login form, as a browser would be."""
    session = requests.Session()
    session.get(f"{stack.url}/accounts/login/", timeout=10)
    response = session.post(
        f"{stack.url}/accounts/login/",
        data={
            "username": user.email,
            "password": TEST_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def post_photo(stack, headers, seed: int, path="/api/predictions/", field="image"):
    return requests.post(
        f"{stack.url}{path}",
        headers=headers,
        files={field: (f"{seed}.jpg", distinct_photo(seed))},
        timeout=60,
    )


def health(stack) -> tuple[int, dict]:
    response = requests.get(f"{stack.url}/api/health/", timeout=10)
    return response.status_code, response.json()


def wait_done(stack, headers, prediction_id: str, timeout: float = 120) -> dict:
    def finished():
        body = requests.get(
            f"{stack.url}/api/predictions/{prediction_id}/?wait=5", headers=headers, timeout=30
        ).json()
        return body if body["status"] in ("done", "failed") else None

    return wait_until(finished, timeout=timeout, interval=0.5, what=f"{prediction_id} to finish")


@contextmanager
def paused(process):
    """Freeze a worker (SIGSTOP) so work queues up, then let it carry on (SIGCONT)."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


# --- Redis goes away and comes back (empty) -----------------------------------------------
REDIS_CASES = [
    (
        "redis-down-upload-api",
        "POST /api/predictions/ while Redis is down",
        "503 with a message; no prediction kept",
    ),
    (
        "redis-down-upload-legacy",
        "POST /model/predict while Redis is down",
        "503 with a message; no prediction kept",
    ),
    (
        "redis-down-login",
        "POST /api/auth/token/ while Redis is down",
        "200: rate limiting fails open",
    ),
    ("redis-down-pages", "home, history and result pages while Redis is down", "200"),
    (
        "redis-down-read",
        "GET /api/predictions/<id>/?wait=2 while Redis is down",
        "200 with the stored status",
    ),
    (
        "redis-down-health",
        "GET /api/health/ while Redis is down",
        '503, redis false, "redis unreachable"',
    ),
    (
        "redis-back-health",
        "Redis started again on the same port, empty",
        "health 200 again, the running worker re-registered; no restart",
    ),
    (
        "redis-back-upload",
        "upload after Redis returned",
        "accepted and classified by the worker that lived through the outage",
    ),
    (
        "redis-lost-queued-job",
        "a prediction queued before the outage; Redis comes back empty",
        "re-queued from the database and classified",
    ),
]


@pytest.fixture
def redis_server(tmp_path):
    server = EmbeddedRedis(data_dir=tmp_path / "redis").start()
    yield server
    server.stop()


def test_redis_outage_is_503_then_everything_works_again_without_restarts(
    live_stack, user, redis_server
):
    stack = live_stack(
        workers=1,
        REDIS_URL=redis_server.url,
        PREDICT_WAIT_SECONDS="2",
        JOB_LEASE_SECONDS="3",
        WORKER_HEARTBEAT_SECONDS="1",
    )
    headers = live_auth_headers(stack, user)
    browser = browser_session(stack, user)
    (worker,) = stack.workers
    before = post_photo(stack, headers, 1).json()
    assert wait_done(stack, headers, before["id"])["status"] == "done"

    with paused(worker):  # so this one is still queued when Redis loses everything
        queued = post_photo(stack, headers, 2)
        assert queued.status_code == 202
        queued = queued.json()
        redis_server.stop()
    kept = Prediction.objects.count()

    # --- Redis is down (and the worker, running again, cannot reach it) ---
    for path, field in (("/api/predictions/", "image"), ("/model/predict", "file")):
        response = post_photo(stack, headers, 3, path=path, field=field)
        assert response.status_code == 503, (path, response.text[:300])
        assert "unavailable" in response.json()["detail"]
    assert Prediction.objects.count() == kept
    assert live_auth_headers(stack, user)  # login still works: throttles fail open
    for page in ("/", "/predictions/", f"/predictions/{before['id']}/"):
        assert browser.get(f"{stack.url}{page}", timeout=10).status_code == 200, page
    read = requests.get(
        f"{stack.url}/api/predictions/{queued['id']}/?wait=2", headers=headers, timeout=30
    )
    assert read.status_code == 200
    assert read.json()["status"] == "queued"
    code, body = health(stack)
    assert code == 503
    assert body["redis"] is False and body["database"] is True
    assert "redis unreachable" in body["problems"]

    redis_server.start()  # same port, no data: the queued job is gone

    # --- Redis is back: nothing restarted ---
    wait_until(
        lambda: health(stack)[0] == 200,
        timeout=60,
        what="health to recover (the worker re-registering)",
    )
    after = post_photo(stack, headers, 4)
    assert after.status_code in (201, 202), after.text[:300]
    assert wait_done(stack, headers, after.json()["id"])["status"] == "done"
    recovered = wait_done(stack, headers, queued["id"], timeout=60)
    assert recovered["status"] == "done", recovered["error"]
    assert worker.poll() is None, "the worker died during the outage"
    pending = Prediction.objects.exclude(status__in=("done", "failed"))
    assert not pending.exists()


# --- The database goes away ----------------------------------------------------------------
DATABASE_CASES = [
    # (case, method, path, how the caller is authenticated)
    ("db-down-health", "GET", "/api/health/", None),
    ("db-down-upload-api", "POST", "/api/predictions/", "jwt"),
    ("db-down-upload-legacy", "POST", "/model/predict", "jwt"),
    ("db-down-api-read", "GET", "/api/predictions/", "jwt"),
    ("db-down-login-api", "POST", "/api/auth/token/", None),
    ("db-down-login-legacy", "POST", "/login", None),
    ("db-down-page-logged-in", "GET", "/predictions/", "session"),
    ("db-down-page-login", "POST", "/accounts/login/", None),
    ("db-down-admin", "GET", "/admin/", "session"),
]


@pytest.fixture
def web_without_database(tmp_path):
    """gunicorn whose DATABASE_URL points at a port nothing listens on."""
    closed = free_port()
    config = StackConfig(
        web_port=free_port(),
        workers=0,
        env=subprocess_env(DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/nothing"),
        log_dir=tmp_path / "logs",
    )
    stack = Stack(config)
    config.log_dir.mkdir(parents=True)
    stack.web = stack._spawn("web", stack.web_command())
    try:
        wait_until(
            lambda: port_open("127.0.0.1", config.web_port),
            timeout=60,
            what="gunicorn to listen",
        )
        yield stack
    finally:
        stack.stop()


def test_database_outage_is_503_with_a_message_never_500(web_without_database):
    stack = web_without_database
    token = AccessToken()
    token["user_id"] = "1"
    jwt = {"Authorization": f"Bearer {token}"}
    cookies = {"sessionid": "x" * 32, "csrftoken": "c" * 32}
    for case, method, path, auth in DATABASE_CASES:
        kwargs = {"timeout": 30, "allow_redirects": False}
        if auth == "jwt":
            kwargs["headers"] = jwt
        if auth == "session" or path == "/accounts/login/":
            kwargs["cookies"] = cookies
        if method == "POST":
            if "predict" in path:
                field = "image" if path.startswith("/api/") else "file"
                kwargs["files"] = {field: ("a.jpg", distinct_photo(1))}
            elif path == "/api/auth/token/":
                kwargs["json"] = {"email": "a@example.com", "password": "x"}
            else:
                kwargs["data"] = {
                    "username": "a@example.com",
                    "password": "x",
                    "csrfmiddlewaretoken": "c" * 32,
                }
        response = requests.request(method, f"{stack.url}{path}", **kwargs)
        assert response.status_code == 503, (case, response.status_code, response.text[:300])
        if path == "/api/health/":
            body = response.json()
            assert body["database"] is False and "database unreachable" in body["problems"]
            continue
        assert response.headers["Retry-After"], case
        if response.headers["Content-Type"].startswith("application/json"):
            assert "database is unavailable" in response.json()["detail"], case
        else:
            assert "database is unavailable" in response.text, case
    assert requests.get(f"{stack.url}/", timeout=10).status_code == 200  # needs no database


# --- The database goes away and comes back ------------------------------------------------
@pytest.fixture
def database_relay():
    relay = relay_to_test_database().start()
    yield relay
    relay.stop()


def test_database_outage_then_recovery_without_restarts(live_stack, user, database_relay):
    stack = live_stack(
        workers=1,
        DATABASE_URL=database_relay.database_url(subprocess_env()["DATABASE_URL"]),
        PREDICT_WAIT_SECONDS="2",
        JOB_LEASE_SECONDS="3",
        WORKER_HEARTBEAT_SECONDS="1",
    )
    headers = live_auth_headers(stack, user)
    (worker,) = stack.workers
    first = post_photo(stack, headers, 11).json()
    assert wait_done(stack, headers, first["id"])["status"] == "done"

    with paused(worker):  # queued now, picked up while the database is away
        stranded = post_photo(stack, headers, 12)
        assert stranded.status_code == 202
        stranded = stranded.json()
        database_relay.stop()
    response = post_photo(stack, headers, 13)
    assert response.status_code == 503
    assert "database is unavailable" in response.json()["detail"]
    code, body = health(stack)
    assert code == 503 and body["database"] is False
    wait_until(  # the worker uses up the job's attempts while the database is away
        lambda: django_rq_job_status(stranded["id"]) == "failed",
        timeout=30,
        what="RQ to give up on the stranded job",
    )
    database_relay.start()

    wait_until(lambda: health(stack)[0] == 200, timeout=60, what="health to recover")
    after = post_photo(stack, headers, 14)
    assert after.status_code in (201, 202), after.text[:300]
    assert wait_done(stack, headers, after.json()["id"])["status"] == "done"
    recovered = wait_done(stack, headers, stranded["id"], timeout=60)
    assert recovered["status"] == "done", recovered["error"]
    assert worker.poll() is None, "the worker died during the outage"
    assert not Prediction.objects.exclude(status__in=("done", "failed")).exists()


def django_rq_job_status(job_id: str) -> str | None:
    import django_rq
    from django.conf import settings
    from rq.job import Job

    connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
    status = connection.hget(Job.key_for(job_id), "status")
    return status.decode() if status else None


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_outage_case():
    rows = list(REDIS_CASES)
    for case, method, path, auth in DATABASE_CASES:
        who = {"jwt": " with a JWT", "session": " with a session cookie"}.get(auth, "")
        result = (
            '503, database false, "database unreachable"'
            if path == "/api/health/"
            else "503 with a message and Retry-After"
        )
        rows.append((case, f"{method} {path}{who}, database unreachable", result))
    rows.append(
        ("db-down-welcome", "GET / anonymously, database unreachable", "200 (needs no database)")
    )
    rows.append(
        (
            "db-outage-and-back",
            "database cut (relay in front of PostgreSQL stopped) while a job is queued; the "
            "worker uses up the job's attempts; database back on the same port",
            "upload 503, health 503 during; worker keeps running; the sweep re-queues the "
            "stranded prediction → done; new uploads done; nothing restarted",
        )
    )
    rows.append(
        (
            "no-worker",
            "uploads while no worker runs, then workers start "
            "(test_worker_process.py::test_jobs_queued_while_no_worker_runs_are_done_once_when_workers_start)",
            "202 at once; each done exactly once when workers start",
        )
    )
    check_section("outages", rows)
