"""Fixtures shared by every app's tests. All of them talk to the real database and Redis."""

from __future__ import annotations

import contextlib
import os
import subprocess

import django_rq
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from testing.clients import jwt_client
from testing.live_stack import TEST_MODEL_NAME, TEST_PASSWORD, start_stack, subprocess_env
from testing.passwords import QUICK_PASSWORD_HASHERS

# --- The two tiers --------------------------------------------------------------------------
# The fast tier (`scripts/test.sh --fast`, i.e. `-m "not slow"`) needs PostgreSQL and Redis
# only. A test that uses one of these fixtures starts a server, a model worker or Chromium,
# so it is marked `slow` (and `browser`) at collection: a new test cannot forget the marker.
SLOW_FIXTURES = {
    "live_stack",  # gunicorn + model workers
    "shared_stack",
    "seaweedfs",  # the S3 server
    "s3_storage",
}
BROWSER_FIXTURES = {"open_page"}
# A test that is not marked slow and still starts one of these programs fails, saying why
# (checked on every process the test, or a fixture it sets up, starts).
SLOW_PROGRAMS = (
    "chromium",
    "playwright",
    "nginx",
    "weed",
    "prometheus",
    "gunicorn",
    "run_model_worker",
    "rqworker",
    "run_stack",
)


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & (SLOW_FIXTURES | BROWSER_FIXTURES) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Under `scripts/test.sh -n 2 --dist loadfile --no-loadscope-reorder` files are
        # handed out in this order: the files with slow tests first, so the two processes end
        # on short files instead of one waiting for the other's minutes-long file.
        slow_files = {item.path for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.path not in slow_files)


_running_fast_test: list[str] = []  # the node id of the fast test being set up or run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not item.get_closest_marker("slow"):
        _running_fast_test.append(item.nodeid)
    try:
        return (yield)
    finally:
        _running_fast_test.clear()


_unguarded_popen_init = subprocess.Popen.__init__


def _fast_tier_guard(self, args, *rest, **options):
    if _running_fast_test:
        words = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
        command = " ".join(map(os.fsdecode, words))
        started = [program for program in SLOW_PROGRAMS if program in command]
        if started:
            pytest.fail(
                f"{_running_fast_test[0]} starts {started[0]} ({command[:120]}): mark it "
                "pytest.mark.slow, or use a fixture named in conftest.SLOW_FIXTURES",
                pytrace=False,
            )
    _unguarded_popen_init(self, args, *rest, **options)


subprocess.Popen.__init__ = _fast_tier_guard  # type: ignore[method-assign]


def _clear_cache() -> None:
    from django.core.cache import caches

    # A test may have pointed the cache at a server that is down on purpose.
    with contextlib.suppress(Exception):
        caches["default"].clear()  # the cache's own database (CACHE_REDIS_URL)


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with empty Redis databases (the test-only queue and cache indexes)."""
    from registry.selectors import forget_live_version

    connection = django_rq.get_connection(settings.INFERENCE_QUEUE)
    connection.flushdb()
    _clear_cache()
    forget_live_version()  # a live version another test promoted is gone with its rows
    yield connection
    connection.flushdb()
    _clear_cache()
    forget_live_version()


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the site's default language.

    LocaleMiddleware activates a request's language for the whole thread and nothing switches
    it back, so a test that asked for Spanish would otherwise leave every later test in the same
    process speaking Spanish.
    """
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def private_media(settings, tmp_path):
    """An empty MEDIA_ROOT of this test's own, so "nothing stored" can be checked."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fast_password_hashing(settings) -> None:
    """Every login attempt hashes a password; the real hasher would make login-heavy files
    slow. Opt in (`pytest.mark.usefixtures`) where the hasher itself is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashing():
    """PBKDF2 at 1,000 iterations here and in every server a test starts (testing/settings.py)."""
    with override_settings(PASSWORD_HASHERS=QUICK_PASSWORD_HASHERS):
        yield


@pytest.fixture
def make_user(db, django_user_model):
    def make(email="alice@example.com", password=TEST_PASSWORD, **extra):
        return django_user_model.objects.create_user(
            email=email, password=password, name=extra.pop("name", email.split("@")[0]), **extra
        )

    return make


@pytest.fixture
def builtin_versions(db):
    """The built-in models' registry rows, which a data migration made: a transactional test
    that ran earlier flushed every table, so they are made again here (idempotent)."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("registry.migrations.0002_builtin_versions")
    migration.add_builtins(apps, schema_editor=None)


@pytest.fixture
def admin_user(db, django_user_model):
    """pytest-django's admin, with a password the validators accept: every way of making a
    superuser runs them (accounts.models.UserManager.create_superuser)."""
    return django_user_model.objects.create_superuser(
        email="admin@example.com", password="operator-passphrase-93", name="admin"
    )


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def other_user(make_user):
    return make_user(email="mallory@example.com")


@pytest.fixture
def api_client(user):
    return jwt_client(user)


@pytest.fixture(scope="session")
def resnet_random():
    """ResNet50 with random weights: real shapes, real batching, meaningless labels."""
    from mlworker.models.resnet import ResNet50Classifier

    return ResNet50Classifier(weights="random")


@pytest.fixture
def run_worker(resnet_random):
    """Run the batched worker in this process until the queue is empty."""
    from mlworker.batch import read_model_counters
    from mlworker.worker import BatchSettings, BatchWorker

    def run(batch_size: int = 16, model=None) -> dict:
        queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
        worker = BatchWorker(
            [queue],
            model=model or resnet_random,
            batching=BatchSettings(batch_size=batch_size, max_wait_ms=5),
        )
        worker.work(burst=True, logging_level="WARNING")
        return read_model_counters(queue.connection)

    return run


@pytest.fixture
def live_model(clean_redis):
    """A live worker's model as the web sees it (`classifier.queueing`), as a running
    worker publishes it; returns a function to publish (another) name. The result cache
    answers only for models a live worker runs."""
    from classifier import queueing

    def publish(name: str = TEST_MODEL_NAME, worker: str = "test-worker") -> str:
        queueing.publish_live_model(clean_redis, worker_name=worker, model_name=name, ttl=600)
        return name

    return publish


@pytest.fixture
def live_stack(transactional_db, tmp_path):
    """Start gunicorn + model workers against the test database; stopped after the test.

    Call it with the number of workers and extra settings: `stack = live_stack(workers=1)`.
    For a test that changes nothing the stack remembers, `shared_stack` is cheaper.
    """
    stacks = []

    def start(**options):
        stacks.append(start_stack(tmp_path / "logs", **options))  # stops itself if it fails
        return stacks[-1]

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="session")
def _workerless_stacks(django_db_setup, tmp_path_factory):
    """The session's stacks without model workers, by their settings (see `shared_stack`)."""
    stacks: dict[str, object] = {}
    yield stacks, tmp_path_factory
    for stack in stacks.values():
        stack.stop()


@pytest.fixture(scope="module")
def shared_stack(_workerless_stacks):
    """Like `live_stack`, but started once: `shared_stack(NUM_PROXIES="1")` starts a stack on
    the first call and returns the same running stack to every later call that asks for the
    same settings (with the same database, Redis and media folder): without model workers,
    in any module of the session; with them (`workers=1`), in this module only, stopped at
    its end (a worker holds a TensorFlow model's memory, and would answer the jobs of any
    later test that wants none answered). Starting gunicorn costs seconds, a model worker
    ten or more.

    Only for tests that leave the stack as they found it: no processes added, killed or
    paused, nothing the server keeps in memory changed. The suite flushes Redis between tests,
    which unregisters a worker until its next heartbeat: with workers, every call waits until
    health counts them again. A test that writes rows the server must see also asks for
    `transactional_db`.
    """
    session_stacks, tmp_path_factory = _workerless_stacks
    module_stacks: dict[str, object] = {}

    def start(workers: int = 0, **options):
        settings_seen = subprocess_env(**{k: v for k, v in options.items() if k.isupper()})
        key = repr((workers, sorted(options.items()), sorted(settings_seen.items())))
        stacks = module_stacks if workers else session_stacks
        if key not in stacks:
            log_dir = tmp_path_factory.mktemp("shared-stack-logs")
            stacks[key] = start_stack(log_dir, workers=workers, **options)
        stack = stacks[key]
        if workers:
            stack.wait_ready()
        return stack

    yield start
    for stack in module_stacks.values():
        stack.stop()


# --- A real S3 server (SeaweedFS) ------------------------------------------------------------
@pytest.fixture(scope="session")
def seaweedfs():
    """One SeaweedFS S3 server for the session (127.0.0.1 only, data in a temp folder)."""
    from testing.seaweedfs import SeaweedS3

    server = SeaweedS3().start()
    yield server
    server.close()


class S3Place:
    """Where one test's images go: a prefix of its own in the session's bucket."""

    def __init__(self, server, prefix: str):
        self.server = server
        self.prefix = prefix

    @property
    def env(self) -> dict[str, str]:
        return self.server.settings_env(prefix=self.prefix)

    def keys(self) -> list[str]:
        return self.server.list_keys(f"{self.prefix}/")

    def key(self, storage_name: str) -> str:
        return f"{self.prefix}/{storage_name}"


@pytest.fixture
def s3_storage(settings, seaweedfs):
    """Django's default storage is the SeaweedFS bucket, under a prefix of this test's own."""
    import uuid

    place = S3Place(seaweedfs, f"test-{uuid.uuid4().hex[:12]}")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "classifier.s3storage.ImageS3Storage",
            "OPTIONS": seaweedfs.storage_options(prefix=place.prefix),
        },
    }
    return place
