"""Failed-login limits: one implementation behind every door that checks a password.

`/api/auth/token/`, the older `/login`, `/accounts/login/`, `/api-auth/login/` and
`/admin/login/` all end in `django.contrib.auth.authenticate()`, whose one backend
(`accounts.backends.EmailBackend`) asks `reserve()` before it checks a password:

- Two counters per attempt, in the cache Redis: the client address (`THROTTLE_LOGIN`) and
  the normalised account (`THROTTLE_LOGIN_ACCOUNT`). Keys are digests of validated input
  (`accounts.client_ip`, `accounts.identity`), so they are short whatever a client sends.
- Atomic: each attempt *reserves* a slot (SET NX EX + INCR in one MULTI) before the password
  is checked, so N parallel wrong passwords never get more than the limit checked, however
  they interleave. A successful login gives its slots back, so logging in is never
  punished; only failures stay counted until the window ends.
- Over a limit the attempt is refused without checking the password; the door answers
  429 with Retry-After (APIs) or a page saying how long to wait (`LoginLockoutMiddleware`).
- Fails open: when the cache Redis is unreachable logins are checked without limits (and
  a warning is logged) rather than locking everybody out.

Password-reset requests (`/accounts/password/reset/`) are counted by the same reservation,
under their own keys and rates: per client address (`THROTTLE_PASSWORD_RESET`) and per
address asked for (`THROTTLE_PASSWORD_RESET_EMAIL`), every request, before the account is
looked up, so the answer is the same whether or not the address has an account.

Why not django-axes: its lock-out check reads the failure count and a failure is recorded
after the password check, so parallel attempts all pass the check before any is counted
(not atomic); it records attempts in the database (a write per failure, rows keyed by the
raw username), and it would still need our identity normalisation and JSON answers. The
reservation above is about 60 lines and does what we need.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

import redis
from django.conf import settings
from rest_framework.settings import api_settings

from accounts.client_ip import client_key, hashed

logger = logging.getLogger(__name__)

PREFIX = "imageclassifier:login-failures"
RESET_PREFIX = "imageclassifier:password-resets"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/min', '5/15min', '20/hour', '100/day' → (attempts, window in seconds)."""
    match = _RATE.match(rate.lower())
    if not match or match.group(3)[0] not in _UNITS:
        raise ValueError(f"not a rate: {rate!r} (expected e.g. 10/min or 5/15min)")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * _UNITS[unit[0]]


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def connection() -> redis.Redis:
    return _client(settings.CACHES["default"]["LOCATION"])


@dataclass
class Reservation:
    keys: list[str] = field(default_factory=list)
    #: seconds until the attempt may be retried, when a limit refused it
    retry_after: int | None = None

    @property
    def locked(self) -> bool:
        return self.retry_after is not None

    def release(self) -> None:
        """Give the slots back (the login succeeded, or it was refused unchecked)."""
        if not self.keys:
            return
        try:
            pipe = connection().pipeline(transaction=False)
            for key in self.keys:
                pipe.decr(key)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("login limit slot not released, cache unavailable: %r", error)
        self.keys = []


def _limits(request, identity: str | None) -> list[tuple[str, int, int]]:
    rates = api_settings.DEFAULT_THROTTLE_RATES
    limits = []
    if request is not None:
        limits.append((f"{PREFIX}:ip:{client_key(request)}", *parse_rate(rates["login"])))
    if identity:
        account = hashed("account", identity)
        limits.append((f"{PREFIX}:account:{account}", *parse_rate(rates["login_account"])))
    return limits


def _reset_limits(request, email: str | None) -> list[tuple[str, int, int]]:
    rates = api_settings.DEFAULT_THROTTLE_RATES
    limits = [(f"{RESET_PREFIX}:ip:{client_key(request)}", *parse_rate(rates["password_reset"]))]
    if email:
        key = f"{RESET_PREFIX}:email:{hashed('reset-email', email)}"
        limits.append((key, *parse_rate(rates["password_reset_email"])))
    return limits


def reserve(*, request, identity: str | None) -> Reservation:
    """Reserve one failed-attempt slot per limit, or refuse the attempt (`locked`)."""
    return _reserve(_limits(request, identity), what="login")


def reserve_password_reset(*, request, email: str | None) -> Reservation:
    """Count one reset request against its client's and its address's limits (`locked`
    when over either). Not released: a sent link counts like any other request."""
    return _reserve(_reset_limits(request, email), what="password-reset")


def _reserve(limits: list[tuple[str, int, int]], *, what: str) -> Reservation:
    if not limits:
        return Reservation()
    try:
        pipe = connection().pipeline(transaction=True)
        for key, _count, window in limits:
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
        results = pipe.execute()
    except redis.RedisError as error:
        logger.warning("%s limits skipped, cache unavailable: %r", what, error)
        return Reservation()
    reservation = Reservation(keys=[key for key, _, _ in limits])
    waits = [
        max(int(ttl), 1)
        for (_key, count, _window), taken, ttl in zip(
            limits, results[1::3], results[2::3], strict=True
        )
        if taken > count
    ]
    if waits:
        reservation.release()
        reservation.retry_after = max(waits)
    return reservation
