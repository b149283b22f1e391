"""Failed-login limits: one implementation behind every door that checks a password.

`/api/auth/token/`, the older `/login`, `/accounts/login/`, `/api-auth/login/` and
`/admin/login/` all end in `django.contrib.auth.authenticate()`, whose one backend
(`accounts.backends.EmailBackend`) calls `begin()` before it checks a password. The
password confirmations of a logged-in person (deleting the account, the old password of
a password change) go through `check_confirmation()`, counted on the same account.

- Two limits per attempt, in the cache Redis (`accounts.slots`): the client address
  (`THROTTLE_LOGIN`) and the normalised account (`THROTTLE_LOGIN_ACCOUNT`). Keys are
  digests of validated input (`accounts.client_ip`, `accounts.identity`), so they are
  short whatever a client sends.
- Each limit keeps two sets: *failures* (a wrong password counts for the whole window)
  and *checks in flight* (a hold taken before the password is checked, given back when
  the check ends). An attempt may start a check only while failures + checks in flight
  stay under the limit, so N parallel wrong passwords never get more than the limit
  checked, however they interleave.
- A correct password is refused only when the failures alone fill a limit. An attempt
  that found the limit full of checks in flight waits for them to end (they take one
  password hash each), up to `WAIT_FOR_CHECKS_SECONDS`; only checks that outlive that
  (a server too overloaded to hash in 30 s) make it answer "try again in 1 second".
- A check that ends in an error (the database is down) gives its hold back; a hold whose
  process died lapses after `HOLD_SECONDS`. Every slot expires by itself.
- Over a limit the attempt is refused without checking the password; the door answers
  429 with Retry-After (APIs) or a page saying how long to wait (`LoginLockoutMiddleware`).
- Fails open: when the cache Redis is unreachable passwords are checked without limits
  (and a warning is logged) rather than locking everybody out.

Password-reset requests (`/accounts/password/reset/`) are counted by the same slots,
under their own keys and rates: per client address (`THROTTLE_PASSWORD_RESET`) and per
address asked for (`THROTTLE_PASSWORD_RESET_EMAIL`), every request, before the account is
looked up, so the answer is the same whether or not the address has an account.

Why not django-axes: its lock-out check reads the failure count and a failure is recorded
after the password check, so parallel attempts all pass the check before any is counted
(not atomic); it records attempts in the database (a write per failure, rows keyed by the
raw username), and it would still need our identity normalisation and JSON answers.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import redis
from django.utils.translation import ngettext
from rest_framework.settings import api_settings

from accounts import slots
from accounts.client_ip import client_key, hashed
from accounts.identity import canonical_email

logger = logging.getLogger(__name__)

PREFIX = "imageclassifier:login"
RESET_PREFIX = "imageclassifier:password-reset"
NOTICE_PREFIX = "imageclassifier:registration-notice"
#: longest a password check may hold a slot (a hash takes well under a second)
HOLD_SECONDS = 30
#: how long an attempt waits for other checks of its account or address to end: as long
#: as a hold may last, so only a check that lapsed (its process died, or the server is too
#: overloaded to hash within HOLD_SECONDS) can make a correct password wait in vain
WAIT_FOR_CHECKS_SECONDS = HOLD_SECONDS


def connection() -> redis.Redis:
    return slots.cache_connection()


@dataclass(frozen=True)
class _Counter:
    name: str  # the key's stem: ip:<digest> or account:<digest>
    count: int
    window: int

    @property
    def failures(self) -> slots.Limit:
        return slots.Limit(f"{PREFIX}:{self.name}:failed", self.count, self.window)

    @property
    def hold(self) -> slots.Limit:
        return slots.Limit(
            f"{PREFIX}:{self.name}:checking",
            self.count,
            HOLD_SECONDS,
            counted_with=(self.failures.key,),
        )


@dataclass
class Attempt:
    """One password check: refused (`locked`), or holding a slot until it ends."""

    counters: list[_Counter] = field(default_factory=list)
    hold: slots.Reservation | None = None
    #: seconds until the attempt may be retried, when a limit refused it
    retry_after: int | None = None

    @property
    def locked(self) -> bool:
        return self.retry_after is not None

    def succeeded(self) -> None:
        """The password was right: nothing is counted."""
        self.release()

    def failed(self) -> None:
        """The password was wrong: a failure counts for the window, the hold is given back."""
        if self.hold is None or not self.hold.keys:
            return
        try:
            pipe = self.hold.connection.pipeline(transaction=True)
            failures = [counter.failures for counter in self.counters]
            slots.record(pipe, failures, token=self.hold.token)
            self.hold.release(pipeline=pipe)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning("failed login not counted, cache unavailable: %r", error)

    def release(self) -> None:
        """The check ended without a verdict (an error) or with success: give the hold back.
        Does nothing once the attempt is settled."""
        if self.hold is None:
            return
        try:
            self.hold.release()
        except redis.RedisError as error:  # the hold lapses after HOLD_SECONDS
            logger.warning("login check slot not released, cache unavailable: %r", error)


def _rate(scope: str) -> tuple[int, int]:
    return slots.parse_rate(api_settings.DEFAULT_THROTTLE_RATES[scope])


def _counters(request, identity: str | None) -> list[_Counter]:
    counters = []
    if request is not None:
        counters.append(_Counter(f"ip:{client_key(request)}", *_rate("login")))
    if identity:
        counters.append(_Counter(f"account:{hashed('account', identity)}", *_rate("login_account")))
    return counters


def _begin(counters: list[_Counter]) -> Attempt:
    if not counters:
        return Attempt()
    attempt = Attempt(counters=counters)
    holds = [counter.hold for counter in counters]
    failures = [counter.failures for counter in counters]
    deadline = time.monotonic() + WAIT_FOR_CHECKS_SECONDS
    try:
        token = slots.new_token()
        while True:
            reservation = slots.reserve(connection(), holds, token=token)
            if reservation.granted:
                attempt.hold = reservation
                return attempt
            attempt.retry_after = slots.wait_for_room(connection(), failures)
            if attempt.retry_after is not None:  # enough failures: refused
                return attempt
            if time.monotonic() >= deadline:
                logger.warning("login refused: other checks held its slots for too long")
                attempt.retry_after = 1
                return attempt
            time.sleep(random.uniform(0.02, 0.08))  # other checks are in flight
    except redis.RedisError as error:
        logger.warning("login limits skipped, cache unavailable: %r", error)
        return Attempt()


def begin(*, request, identity: str | None) -> Attempt:
    """Start a password check for this client and account, or refuse it (`locked`)."""
    return _begin(_counters(request, identity))


class TooManyAttempts(Exception):
    """Too many wrong passwords for the account: no password is checked until the window
    frees a slot."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return ngettext(
            "Too many wrong passwords for this account. Try again in %(seconds)d second.",
            "Too many wrong passwords for this account. Try again in %(seconds)d seconds.",
            self.retry_after,
        ) % {"seconds": self.retry_after}


def check_confirmation(*, user, password: str) -> bool:
    """Whether `password` is the logged-in `user`'s, counted against the account's
    failed-login limit: a stolen session or token cannot guess on. Raises TooManyAttempts
    (without checking) once the account has that many failures in the window."""
    attempt = _begin(_counters(None, canonical_email(user.email) or user.email))
    if attempt.locked:
        raise TooManyAttempts(attempt.retry_after or 1)
    try:
        correct = user.check_password(password)
    except BaseException:
        attempt.release()
        raise
    if correct:
        attempt.succeeded()
    else:
        attempt.failed()
    return correct


def _reset_limits(request, email: str | None) -> list[slots.Limit]:
    count, window = _rate("password_reset")
    limits = [slots.Limit(f"{RESET_PREFIX}:ip:{client_key(request)}", count, window)]
    if email:
        count, window = _rate("password_reset_email")
        key = f"{RESET_PREFIX}:email:{hashed('reset-email', email)}"
        limits.append(slots.Limit(key, count, window))
    return limits


def allow_registration_notice(*, email: str) -> bool:
    """Whether to e-mail an address's owner that someone tried to register it: at the
    reset e-mail's rate per address (THROTTLE_PASSWORD_RESET_EMAIL), so registrations
    cannot flood an inbox. Skipped silently past it (a 429 would tell the address is taken)."""
    count, window = _rate("password_reset_email")
    key = f"{NOTICE_PREFIX}:{hashed('notice-email', email)}"
    try:
        return slots.reserve(connection(), [slots.Limit(key, count, window)]).granted
    except redis.RedisError as error:
        logger.warning("registration notice not limited, cache unavailable: %r", error)
        return True


def reserve_password_reset(*, request, email: str | None) -> slots.Reservation | None:
    """Count one reset request against its client's and its address's limits (`granted`
    False when over either). Never given back: a sent link counts like any other request.
    None when the cache is unreachable (not limited)."""
    try:
        return slots.reserve(connection(), _reset_limits(request, email))
    except redis.RedisError as error:
        logger.warning("password-reset limits skipped, cache unavailable: %r", error)
        return None
