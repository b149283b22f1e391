from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from accounts import authentication
from accounts.identity import MAX_EMAIL_LENGTH
from config.api import StrictCharField

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name"]
        read_only_fields = fields


class RegistrationSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=MAX_EMAIL_LENGTH)
    name = StrictCharField(max_length=150)
    password = StrictCharField(write_only=True, style={"input_type": "password"})


class AccountDeletionSerializer(serializers.Serializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class TokenObtainSerializer(TokenObtainPairSerializer):
    """One identity field (`email`, or the older `/login`'s `username`), bounded: a longer
    value is a 400 before any lookup or rate-limit key is made of it."""

    token_class = authentication.RefreshToken

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = serializers.CharField(
            write_only=True, max_length=MAX_EMAIL_LENGTH
        )


class RefreshSerializer(TokenRefreshSerializer):
    """Refresh tokens rotate and die with the password.

    A refresh token works once: it is blacklisted *before* the new pair is made, and only
    the request whose blacklist row was created wins (the row is unique per token, so
    PostgreSQL picks one of N parallel refreshes); the others get 401, as a reused token
    does. The family never forks.
    """

    token_class = authentication.RefreshToken
    revoked = _("This token is no longer valid. Log in again.")

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError (blacklisted too) → 401
        if not authentication.is_current(refresh.payload):
            raise AuthenticationFailed(self.revoked, "token_revoked")
        user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
        user = User.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(self.revoked, "token_revoked")
        if not authentication.claim_refresh_token(refresh):
            raise AuthenticationFailed(self.revoked, "token_not_valid")
        data = {"access": str(refresh.access_token)}
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        data["refresh"] = str(refresh)
        return data
