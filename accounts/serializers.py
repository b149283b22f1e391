from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer

from accounts import tokens
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

    token_class = tokens.RefreshToken

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = serializers.CharField(
            write_only=True, max_length=MAX_EMAIL_LENGTH
        )


class RefreshSerializer(TokenRefreshSerializer):
    """Refresh tokens rotate (a used one is blacklisted) and die with the password."""

    token_class = tokens.RefreshToken
    revoked = _("This token is no longer valid. Log in again.")

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # TokenError → the view's 401
        if not tokens.is_current(refresh.payload):
            raise AuthenticationFailed(self.revoked, "token_revoked")
        try:
            return super().validate(attrs)
        except User.DoesNotExist:  # deleted between the check and simplejwt's own lookup
            raise AuthenticationFailed(self.revoked, "token_revoked") from None
