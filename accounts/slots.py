"""Counted slots within a window, in Redis: the one counter behind every exact limit.

A limit is a Redis sorted set: each member is one taken slot, scored by the moment it
stops counting. Taking a slot and checking the limit is one Lua script, so N parallel
requests across threads and processes never get more than the limit, however they
interleave. Every slot carries its own expiry, so a limit is a sliding window (a slot
counts for `seconds` after it was taken) and a slot whose holder died lapses by itself.

- `reserve` takes one slot in every limit, or none (all or nothing), and says how long
  until a refused request could succeed.
- `Reservation.release` gives the slots back. It only removes members: it never creates a
  key and never touches a key's expiry, so releasing after a key lapsed is harmless.
- `record` adds a slot unconditionally (a failed login is counted even past the limit).
- A limit may be counted together with other keys (`counted_with`): the login guard
  holds "checks in flight" and "failures" apart, and refuses on their sum.

Users: failed logins and password confirmations (`accounts.login_guard`), the DRF
throttles (`accounts.throttles`), the per-user and per-process wait slots
(`classifier.wait_slots`), the daily upload quota (`classifier.services.admission`: its
script rides on the upload's admission pipeline, `queue_reserve`). Callers choose the
connection (the cache's Redis or the queue's) and what a Redis failure means for them;
this module only raises RedisError.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import redis
from django.conf import settings

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: per limit, its own key followed by the keys counted with it.
# ARGV: token, take (1/0), then per limit: count, lifetime in ms, how many keys counted with.
# Returns {1} when taken (or when take=0 and there is room), else {0, wait_ms}: how long
# until every full limit has a free slot.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local token, take = ARGV[1], ARGV[2] == '1'
local targets, wait = {}, -1
local k, a = 1, 3
while a <= #ARGV do
  local count, life, extra = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local scores, used = {}, 0
  for j = k, k + extra do
    redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now)
    used = used + redis.call('ZCARD', KEYS[j])
  end
  if used >= count then
    local over = used - count + 1
    for j = k, k + extra do
      local found = redis.call('ZRANGE', KEYS[j], 0, over - 1, 'WITHSCORES')
      for s = 2, #found, 2 do scores[#scores + 1] = tonumber(found[s]) end
    end
    table.sort(scores)
    local free_at = scores[over] or (now + life)
    if free_at - now > wait then wait = free_at - now end
  end
  targets[#targets + 1] = {KEYS[k], life}
  k, a = k + extra + 1, a + 3
end
if wait >= 0 then return {0, wait} end
if take then
  for _, target in ipairs(targets) do
    redis.call('ZADD', target[1], now + target[2], token)
    if redis.call('PTTL', target[1]) < target[2] then
      redis.call('PEXPIRE', target[1], target[2])
    end
  end
end
return {1}
"""

# KEYS: the keys to add the token to; ARGV: token, then each key's lifetime in ms.
_RECORD = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i, key in ipairs(KEYS) do
  local life = tonumber(ARGV[i + 1])
  redis.call('ZADD', key, now + life, ARGV[1])
  if redis.call('PTTL', key) < life then redis.call('PEXPIRE', key, life) end
end
return 1
"""


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/min', '5/15min', '20/hour', '100/day' → (slots, window in seconds)."""
    match = _RATE.match(rate.lower())
    if not match or match.group(3)[0] not in _UNITS:
        raise ValueError(f"not a rate: {rate!r} (expected e.g. 10/min or 5/15min)")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _UNITS[unit[0]]


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def cache_connection() -> redis.Redis:
    """The cache's Redis (CACHE_REDIS_URL): where rate limits and login failures live."""
    return _client(settings.CACHES["default"]["LOCATION"])


@dataclass(frozen=True)
class Limit:
    key: str
    #: how many slots may be taken at once
    count: int
    #: how long a slot counts once taken (the window, or the longest a hold may last)
    seconds: float
    #: keys whose slots count against this limit too (nothing is added to them)
    counted_with: Sequence[str] = ()

    @property
    def lifetime_ms(self) -> int:
        return max(1, int(self.seconds * 1000))


def new_token() -> str:
    return secrets.token_hex(8)


@dataclass
class Reservation:
    connection: redis.Redis
    token: str
    #: where a slot is held (empty when refused or released)
    keys: list[str] = field(default_factory=list)
    #: whole seconds until a refused request could succeed; None when granted
    retry_after: int | None = None

    @property
    def granted(self) -> bool:
        return self.retry_after is None

    def release(self, pipeline: redis.client.Pipeline | None = None) -> None:
        """Give the slots back (queued on `pipeline` when given). Only ZREM: a key that
        lapsed stays gone, a live key keeps its expiry."""
        if not self.keys:
            return
        target = pipeline if pipeline is not None else self.connection.pipeline(transaction=False)
        for key in self.keys:
            target.zrem(key, self.token)
        if pipeline is None:
            target.execute()
        self.keys = []


def _run(
    connection: redis.Redis | redis.client.Pipeline, limits: Sequence[Limit], token: str, take: bool
) -> list:
    keys: list[str] = []
    args: list = [token, "1" if take else "0"]
    for limit in limits:
        keys += [limit.key, *limit.counted_with]
        args += [limit.count, limit.lifetime_ms, len(limit.counted_with)]
    return connection.eval(_RESERVE, len(keys), *keys, *args)


def _seconds(wait_ms) -> int:
    return max(1, math.ceil(int(wait_ms) / 1000))


def reserve(
    connection: redis.Redis, limits: Sequence[Limit], *, token: str | None = None
) -> Reservation:
    """Take one slot in every limit, or none; raises RedisError when Redis fails."""
    token = token or new_token()
    if not limits:
        return Reservation(connection=connection, token=token)
    result = _run(connection, limits, token, take=True)
    return reservation_from(result, connection=connection, limits=limits, token=token)


def queue_reserve(pipeline: redis.client.Pipeline, limits: Sequence[Limit], *, token: str) -> None:
    """Queue `reserve`'s script on `pipeline`, so the slots are taken in a round trip the
    caller makes anyway; `reservation_from` reads its answer once the pipeline ran."""
    _run(pipeline, limits, token, take=True)


def reservation_from(
    result, *, connection: redis.Redis, limits: Sequence[Limit], token: str
) -> Reservation:
    """The reservation a `queue_reserve` answered (`result`: its entry in the pipeline's)."""
    reservation = Reservation(connection=connection, token=token)
    if int(result[0]) == 1:
        reservation.keys = [limit.key for limit in limits]
    else:
        reservation.retry_after = _seconds(result[1])
    return reservation


def wait_for_room(connection: redis.Redis, limits: Sequence[Limit]) -> int | None:
    """Seconds until every limit has a free slot (None: room now). Takes nothing."""
    if not limits:
        return None
    result = _run(connection, limits, "", take=False)
    return None if int(result[0]) == 1 else _seconds(result[1])


def record(
    connection: redis.Redis | redis.client.Pipeline,
    limits: Sequence[Limit],
    *,
    token: str | None = None,
) -> None:
    """Count one slot in every limit even when it is full (each key then lives at least the
    slot's lifetime). Given a pipeline, the script is queued on it."""
    if not limits:
        return
    keys = [limit.key for limit in limits]
    lifetimes = [limit.lifetime_ms for limit in limits]
    connection.eval(_RECORD, len(keys), *keys, token or new_token(), *lifetimes)


def taken(connection: redis.Redis, key: str) -> int:
    """How many slots of a key count now (for operators and tests)."""
    clock = connection.time()
    now_ms = clock[0] * 1000 + clock[1] // 1000
    return int(connection.zcount(key, f"({now_ms}", "+inf"))
