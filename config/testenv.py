"""pytest plugin, loaded with `-p config.testenv` before pytest-django reads the settings.

Test defaults: real PostgreSQL/Redis when DATABASE_URL/REDIS_URL say so (CI does), else a
SQLite file and the Redis at 127.0.0.1:6379, database 15. Media goes to a temporary folder.
"""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="imageclassifier-media-"))
os.environ.setdefault("RESNET50_WEIGHTS", "random")
os.environ.setdefault("THROTTLE_UPLOADS", "10000/min")
