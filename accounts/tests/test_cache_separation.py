"""The cache (rate limits, failed-login counts, token versions) never shares memory limits
or eviction with the job queue.

Was: one Redis, no memory cap, holding both, so anyone could fill it (a 5 MB e-mail per
login attempt) and a memory cap with eviction would have been able to drop queued jobs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings as django_settings
from django.core.cache import caches

from classifier.tests.reliability_doc import check_section
from config.redis_url import DEFAULT_CACHE_DATABASE, same_database, with_database
from config.testenv import cache_url_for_test_run
from ops.stack import CACHE_REDIS_ARGS, EmbeddedRedis

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def settings_check(**env: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with only these Redis variables set."""
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.CACHE_REDIS_URL)"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_default_cache_is_database_1_of_the_queues_server():
    assert DEFAULT_CACHE_DATABASE == 1
    done = settings_check(REDIS_URL="redis://queue.internal:6380/0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "redis://queue.internal:6380/1"
    assert with_database("redis://:pw@h:6379", 1) == "redis://:pw@h:6379/1"


def test_a_cache_on_the_queues_database_refuses_to_start():
    done = settings_check(REDIS_URL="redis://h:6379/1")
    assert done.returncode != 0
    assert "CACHE_REDIS_URL" in done.stderr and "own database" in done.stderr
    explicit = settings_check(REDIS_URL="redis://h:6379/1", CACHE_REDIS_URL="redis://h:6379/2")
    assert explicit.returncode == 0, explicit.stderr
    assert same_database("redis://h/0", "redis://h:6379") and not same_database(
        "redis://h:6379/0", "redis://h:6380/0"
    )


def test_each_test_run_has_its_own_cache_database_apart_from_every_runs_queue():
    queues = [2, 3, 4, 5, 6, 9, 15]  # helpers' runs, CI, the local default
    caches_ = [cache_url_for_test_run(f"redis://127.0.0.1:6379/{n}") for n in queues]
    cache_indexes = {int(url.rsplit("/", 1)[1]) for url in caches_}
    assert len(cache_indexes) == len(queues) and not cache_indexes & set(queues)
    queue = django_settings.RQ_QUEUES[django_settings.INFERENCE_QUEUE]["URL"]
    assert not same_database(django_settings.CACHES["default"]["LOCATION"], queue)


def test_compose_gives_the_cache_its_own_capped_evicting_redis():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    queue = " ".join(services["redis"]["command"])
    cache = " ".join(services["cache"]["command"])
    assert "--maxmemory-policy noeviction" in queue
    assert "--maxmemory " in cache and "--maxmemory-policy allkeys-lru" in cache
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["CACHE_REDIS_URL"].startswith("redis://cache:"), name
        assert env["REDIS_URL"].startswith("redis://redis:"), name


@pytest.fixture
def two_redis(tmp_path):
    """The quick start's pair: the queue's Redis and the cache's (ops.stack)."""
    queue = EmbeddedRedis(data_dir=tmp_path / "queue").start()
    cache = EmbeddedRedis(data_dir=tmp_path / "cache", extra_args=CACHE_REDIS_ARGS).start()
    yield queue, cache
    cache.stop()
    queue.stop()


def test_filling_the_cache_past_its_cap_evicts_cache_keys_never_the_queue(two_redis, settings):
    queue_server, cache_server = two_redis
    queue = redis.Redis.from_url(queue_server.url)
    cache_admin = redis.Redis.from_url(cache_server.url)
    assert queue.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert cache_admin.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    cap = int(cache_admin.config_get("maxmemory")["maxmemory"])
    queue.rpush("rq:queue:inference", "job-1")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": cache_server.url,
        }
    }
    value = "x" * 64 * 1024
    for index in range(2 * cap // len(value)):  # twice the cap
        caches["default"].set(f"filler-{index}", value, 3600)
    info = cache_admin.info("memory")
    assert info["used_memory"] <= cap * 1.1
    assert cache_admin.info("stats")["evicted_keys"] > 0
    assert queue.lrange("rq:queue:inference", 0, -1) == [b"job-1"]


def test_reliability_doc_lists_the_cache_separation_cases():
    rows = [
        ("cache-own-database", "settings with only REDIS_URL=redis://host:port/N",
         "CACHE_REDIS_URL defaults to redis://host:port/1; with N = 1 the settings refuse to "
         "load (set CACHE_REDIS_URL): never the queue's database"),
        ("cache-compose", "docker-compose.yml", "queue Redis `noeviction`; a second `cache` "
         "Redis with `maxmemory` and `allkeys-lru`; web and worker point CACHE_REDIS_URL at it"),
        ("cache-fill", "the quick start's cache Redis (32 MB, allkeys-lru) written to twice its "
         "cap, with a job in the queue's Redis",
         "cache memory stays at the cap (keys evicted); the queued job is still there"),
    ]  # fmt: skip
    check_section("cache-separation", rows)
