"""JWTs that die with the password, and the API's authentication that checks them.

Every token carries the account's `token_version` as its "ver" claim. A password change or
reset, a deactivation or a deletion raises (or removes) that version, so every token issued
before fails: access tokens at `VersionedJWTAuthentication`, refresh tokens at
`RefreshSerializer`. On top of that the account's outstanding refresh tokens are
blacklisted (simplejwt's `token_blacklist` app) and refresh tokens rotate: a refresh token
works once, a reused one is a 401.

The version a token must carry is read from the cache (one Redis GET per request); the
database answers only on a miss. A change drops the cached value at once (so the next
read asks the database, which in the changing transaction already sees the change) and
sets the new one when the change is committed (`remember_user`, `forget_user`). Readers
only *add* to the cache and writers *set*, so a reader that saw the old row just before
the commit cannot overwrite the new value. Changes that bypass the model
(`QuerySet.update`) are picked up within `STATE_SECONDS`.

Authentication: the revocation check (`is_current`: one cache read, no database query)
also answers whether the account still exists and is active: a deactivated or deleted
account's cached version is "gone", so its tokens fail here. So the user row itself is
not read per request: `request.user` is a `TokenUser`, which knows its id and that it is
active, and reads the row only when something asks for more (a name, staff flags, a
save). The upload, result and history endpoints never do: one query fewer per request.
A change that bypasses the model (`QuerySet.update(is_active=False)`) is
seen within `STATE_SECONDS`, as for the version check itself.
"""

from __future__ import annotations

import copy
import logging

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken as SimpleRefreshToken

logger = logging.getLogger(__name__)

VERSION_CLAIM = "ver"
STATE_SECONDS = 300
_GONE = -1  # cached for deleted or deactivated accounts


class RefreshToken(SimpleRefreshToken):
    """simplejwt's refresh token plus the account's token version (copied to access tokens)."""

    @classmethod
    def for_user(cls, user) -> RefreshToken:
        token = super().for_user(user)
        token[VERSION_CLAIM] = user.token_version
        return token


def _key(user_id) -> str:
    return f"jwt-version:{int(user_id)}"


def _cache_quietly(method: str, *args) -> object:
    try:
        return getattr(cache, method)(*args)
    except Exception as error:  # the cache's connection errors vary by client; the DB decides
        logger.warning("token version cache unavailable: %r", error)
        return None


def current_version(user_id) -> int | None:
    """The version this account's tokens must carry; None if it is gone or deactivated."""
    try:
        key = _key(user_id)
    except (TypeError, ValueError):
        return None
    cached = _cache_quietly("get", key)
    if cached is None:
        row = (
            get_user_model()
            .objects.filter(pk=int(user_id))
            .values_list("token_version", "is_active")
            .first()
        )
        cached = row[0] if row is not None and row[1] else _GONE
        _cache_quietly("add", key, cached, STATE_SECONDS)
    return None if cached == _GONE else cached


def is_current(payload: dict) -> bool:
    """Whether a validated token's claims still match its account."""
    version = current_version(payload.get(api_settings.USER_ID_CLAIM))
    # Tokens minted before versions existed carry no claim: they count as version 0.
    return version is not None and payload.get(VERSION_CLAIM, 0) == version


def drop_cached(user_id) -> None:
    """The account is changing: the next read asks the database."""
    _cache_quietly("delete", _key(user_id))


def remember_user(user) -> None:
    """Publish an account's committed state (call after the commit)."""
    version = user.token_version if user.is_active else _GONE
    _cache_quietly("set", _key(user.pk), version, STATE_SECONDS)


def forget_user(user_id) -> None:
    """The account is deleted: its tokens fail from now on (call after the commit)."""
    _cache_quietly("set", _key(user_id), _GONE, STATE_SECONDS)


def blacklist_refresh_tokens(user) -> int:
    """Blacklist every outstanding refresh token of an account; returns how many."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    tokens = [BlacklistedToken(token=token) for token in outstanding]
    BlacklistedToken.objects.bulk_create(tokens, ignore_conflicts=True)
    return len(tokens)


def claim_refresh_token(refresh) -> bool:
    """Blacklist a refresh token being used; True only for the one caller that did it.

    The blacklist row is unique per token: of N parallel claims, one INSERT wins and the
    others find the row (simplejwt's `blacklist()` is a get_or_create).
    """
    _row, created = refresh.blacklist()
    return created


# --- authentication -----------------------------------------------------------------------


def _revoked() -> AuthenticationFailed:
    return AuthenticationFailed(
        _("This token is no longer valid. Log in again."), code="token_revoked"
    )


class TokenUser(SimpleLazyObject):
    """The account a current token names: id and "active" without a query, the rest of the
    row read on first use (then it behaves as that `User`, like Django's lazy session user).

    Only built after `is_current` passed, which is what makes `is_active` True.
    """

    def __init__(self, user_id: int) -> None:
        self.__dict__["_user_id"] = user_id

        def load():
            user = get_user_model().objects.filter(pk=user_id).first()
            if user is None or not user.is_active:  # gone since the cache said otherwise
                raise _revoked()
            return user

        super().__init__(load)

    @property
    def pk(self) -> int:
        return self.__dict__["_user_id"]

    id = pk

    @property
    def is_active(self) -> bool:
        return True if self._wrapped is empty else self._wrapped.is_active

    is_authenticated = True
    is_anonymous = False

    def __bool__(self) -> bool:
        return True

    def __copy__(self) -> object:
        return TokenUser(self.pk) if self._wrapped is empty else copy.copy(self._wrapped)

    def __deepcopy__(self, memo: dict) -> object:
        return TokenUser(self.pk) if self._wrapped is empty else copy.deepcopy(self._wrapped, memo)

    def __repr__(self) -> str:
        loaded = "" if self._wrapped is empty else " loaded"
        return f"<TokenUser {self.pk}{loaded}>"


class VersionedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token) -> TokenUser:
        if not is_current(validated_token.payload):
            raise _revoked()
        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("Token contained no recognizable user identification")) from None
        return TokenUser(user_id)
