"""JWT authentication that also refuses tokens older than the account's last password change.

NOTE for the request-path work (issue 15): the revocation check needs only
`accounts.tokens.is_current(validated_token.payload)` (one cache read, no database query).
If `get_user` becomes stateless (no user row per request), keep that check in front of it.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from accounts import tokens


class VersionedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        if not tokens.is_current(validated_token.payload):
            raise AuthenticationFailed(
                _("This token is no longer valid. Log in again."), code="token_revoked"
            )
        return super().get_user(validated_token)
