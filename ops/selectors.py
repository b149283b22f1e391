"""Read-only view of the serving system's health: database, Redis, workers, queue and, when
images live in one, the object store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import django_rq
from django.conf import settings
from django.core.files.storage import storages
from django.db import DatabaseError, connection
from redis.exceptions import RedisError

from monitoring.workers import live_workers


@dataclass
class SystemHealth:
    database: bool = False
    redis: bool = False
    live_workers: int = 0
    queue_depth: int | None = None
    #: "ok" or "unavailable"; None when images are not in an object store (MEDIA_ROOT)
    object_store: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


#: Health's own bound on the object store's answer (connect, then read; one attempt), so a
#: hung store makes health slow by at most about twice this, never by boto's minute.
OBJECT_STORE_TIMEOUT_SECONDS = 1.0


@lru_cache(maxsize=4)
def _probe_client(
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    addressing_style: str | None,
    signature_version: str | None,
):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": addressing_style},
            signature_version=signature_version,
            connect_timeout=OBJECT_STORE_TIMEOUT_SECONDS,
            read_timeout=OBJECT_STORE_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1},
        ),
    )


def object_store_status() -> str | None:
    """ "ok" when the store answers a HEAD of the images' bucket within the bound (a bucket
    the first upload will create counts), else "unavailable";
    None when the default storage is not an S3 one. Its own short-timeout client: the
    storage's own waits (seconds, retries) are for uploads, not for a health check."""
    if "s3" not in settings.STORAGES["default"]["BACKEND"].lower():
        return None  # filesystem: never import boto3 for it
    from botocore.exceptions import BotoCoreError, ClientError
    from storages.backends.s3 import S3Storage

    storage = storages["default"]
    if not isinstance(storage, S3Storage):
        return None
    client = _probe_client(
        storage.endpoint_url,
        storage.region_name,
        storage.access_key,
        storage.secret_key,
        storage.addressing_style,
        storage.signature_version,
    )
    try:
        client.head_bucket(Bucket=storage.bucket_name)
    except ClientError as error:
        # A bucket that does not exist yet answers 404 once the store has accepted our
        # credentials: the first upload creates it, so a fresh deployment is healthy.
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            return "ok"
        return "unavailable"
    except BotoCoreError:
        return "unavailable"
    return "ok"


def _check_database(health: SystemHealth) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        health.database = True
    except DatabaseError:
        health.problems.append("database unreachable")


def serving_readiness() -> SystemHealth:
    """What one web process needs to answer requests: the database and the queue's Redis.

    Live workers and the object store are left out on purpose: a web pod taken out of
    its Service because the workers scaled to zero, or the store blinked, would turn a
    partial outage (uploads wait or fail with their own 503) into a whole-site one.
    """
    health = SystemHealth()
    _check_database(health)
    try:
        django_rq.get_queue(settings.INFERENCE_QUEUE).connection.ping()
        health.redis = True
    except RedisError:
        health.problems.append("redis unreachable")
    return health


def system_health() -> SystemHealth:
    health = SystemHealth()
    _check_database(health)
    health.object_store = object_store_status()
    if health.object_store == "unavailable":
        health.problems.append("object store unreachable")
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    try:
        queue.connection.ping()
        health.redis = True
        health.queue_depth = queue.count
        health.live_workers = len(live_workers(queue))
    except RedisError:
        health.problems.append("redis unreachable")
        return health
    if health.live_workers == 0:
        health.problems.append("no model worker running")
    return health
