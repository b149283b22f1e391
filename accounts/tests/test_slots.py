"""The counted-slots helper (accounts.slots) on a real Redis: exact under parallel takers,
and a release never creates a key or strips its expiry."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from accounts import slots


@pytest.fixture
def redis_connection():
    connection = slots.cache_connection()
    connection.delete("test:slots:a", "test:slots:b")
    yield connection
    connection.delete("test:slots:a", "test:slots:b")


def test_parallel_takers_never_get_more_than_the_limit(redis_connection):
    limit = slots.Limit("test:slots:a", 7, 60)
    with ThreadPoolExecutor(max_workers=16) as pool:
        granted = Counter(
            pool.map(lambda _: slots.reserve(redis_connection, [limit]).granted, range(64))
        )
    assert granted == {True: 7, False: 57}
    assert slots.taken(redis_connection, limit.key) == 7


def test_a_refusal_says_when_the_oldest_slot_frees(redis_connection):
    limit = slots.Limit("test:slots:a", 2, 60)
    assert slots.reserve(redis_connection, [limit]).granted
    assert slots.reserve(redis_connection, [limit]).granted
    refused = slots.reserve(redis_connection, [limit])
    assert not refused.granted
    assert 55 <= refused.retry_after <= 60


def test_all_or_nothing_across_limits(redis_connection):
    roomy = slots.Limit("test:slots:a", 10, 60)
    full = slots.Limit("test:slots:b", 1, 60)
    assert slots.reserve(redis_connection, [full]).granted
    assert not slots.reserve(redis_connection, [roomy, full]).granted
    assert slots.taken(redis_connection, roomy.key) == 0  # nothing taken in the roomy one


def test_a_released_slot_is_free_again_and_the_key_keeps_its_expiry(redis_connection):
    limit = slots.Limit("test:slots:a", 1, 60)
    first = slots.reserve(redis_connection, [limit])
    second = slots.reserve(redis_connection, [slots.Limit("test:slots:a", 2, 60)])
    first.release()
    assert 0 < redis_connection.ttl(limit.key) <= 60
    assert slots.reserve(redis_connection, [slots.Limit("test:slots:a", 2, 60)]).granted
    second.release()
    assert 0 < redis_connection.ttl(limit.key) <= 60


def test_a_release_after_the_window_ended_creates_nothing(redis_connection):
    """Was: releasing after the key expired recreated it at -1 with no expiry (seen at -7),
    which granted extra attempts for ever."""
    limit = slots.Limit("test:slots:a", 1, 0.3)
    reservation = slots.reserve(redis_connection, [limit])
    assert reservation.granted
    deadline = time.monotonic() + 5
    while redis_connection.exists(limit.key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_connection.exists(limit.key)
    reservation.release()
    assert not redis_connection.exists(limit.key)
    assert redis_connection.keys("test:slots:*") == []


def test_slots_counted_with_another_key_share_its_limit(redis_connection):
    failures = slots.Limit("test:slots:b", 3, 60)
    holds = slots.Limit("test:slots:a", 3, 30, counted_with=(failures.key,))
    slots.record(redis_connection, [failures])
    slots.record(redis_connection, [failures])
    assert slots.reserve(redis_connection, [holds]).granted  # 2 failures + 1 hold
    assert not slots.reserve(redis_connection, [holds]).granted
    assert slots.wait_for_room(redis_connection, [failures]) is None  # failures alone: room
    slots.record(redis_connection, [failures])  # recorded even past the limit
    assert slots.wait_for_room(redis_connection, [failures]) is not None


@pytest.mark.parametrize(
    "rate, parsed",
    [("10/min", (10, 60)), ("5/15min", (5, 900)), ("20/hour", (20, 3600)), ("3/d", (3, 86400))],
)
def test_rates_read_like_the_api_throttles_plus_a_multiple(rate, parsed):
    assert slots.parse_rate(rate) == parsed
