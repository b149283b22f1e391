"""JWT authentication that also refuses tokens older than the account's last password change.

The revocation check (`accounts.tokens.is_current`: one cache read, no database query)
also answers whether the account still exists and is active: a deactivated or deleted
account's cached version is "gone", so its tokens fail here. So the user row itself is
not read per request: `request.user` is a `TokenUser`, which knows its id and that it is
active, and reads the row only when something asks for more (a name, staff flags, a
save). The upload, result and history endpoints never do: one query fewer per request.
A change that bypasses the model (`QuerySet.update(is_active=False)`) is
seen within `tokens.STATE_SECONDS`, as for the version check itself.
"""

from __future__ import annotations

import copy

from django.contrib.auth import get_user_model
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts import tokens


def _revoked() -> AuthenticationFailed:
    return AuthenticationFailed(
        _("This token is no longer valid. Log in again."), code="token_revoked"
    )


class TokenUser(SimpleLazyObject):
    """The account a current token names: id and "active" without a query, the rest of the
    row read on first use (then it behaves as that `User`, like Django's lazy session user).

    Only built after `tokens.is_current` passed, which is what makes `is_active` True.
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
        if not tokens.is_current(validated_token.payload):
            raise _revoked()
        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise InvalidToken(_("Token contained no recognizable user identification")) from None
        return TokenUser(user_id)
