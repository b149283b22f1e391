"""JSON API for accounts: register, obtain and refresh JWTs, who am I, delete my account."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import services
from accounts.emails import MailSite
from accounts.serializers import (
    AccountDeletionSerializer,
    RefreshSerializer,
    RegistrationSerializer,
    TokenObtainSerializer,
    UserSerializer,
)
from accounts.throttles import RefreshRateThrottle, RegisterRateThrottle


class RegistrationReceivedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField()


def register_from_validated(request, data: dict) -> str:
    """Run the registration service (the same answer for a new or a taken address) and
    turn its validation errors into DRF 400s; returns the normalised address."""
    try:
        return services.request_registration(**data, site=MailSite.of(request))
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from None


class RegisterView(APIView):
    """202 whether or not the address already had an account (the owner is e-mailed
    instead): registering must not tell anyone which addresses have accounts."""

    # Open to everyone and reads no credentials: no lock in the docs, no 401/403 listed.
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(request=RegistrationSerializer, responses={202: RegistrationReceivedSerializer})
    def post(self, request):
        serializer = RegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = register_from_validated(request, serializer.validated_data)
        body = {
            "detail": str(services.REGISTRATION_RECEIVED),
            "email": email,
            "name": serializer.validated_data["name"].strip(),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class TokenView(TokenObtainPairView):
    """Failed attempts are limited behind authenticate() (accounts.login_guard)."""

    serializer_class = TokenObtainSerializer
    throttle_classes = []


class RefreshView(TokenRefreshView):
    serializer_class = RefreshSerializer
    throttle_classes = [RefreshRateThrottle]


class MeView(generics.RetrieveAPIView):
    serializer_class = UserSerializer
    #: DELETE checks the password in the login guard: 429 past the account's limit
    confirms_password = True

    def get_object(self):
        return self.request.user

    @extend_schema(
        request=AccountDeletionSerializer,
        responses={204: None},
        description="Delete your account, your predictions (and their images) and your "
        "feedback, confirmed by your password. The last superuser gets 403. Wrong passwords "
        "count against the account's failed-login limit: past it, 429 with Retry-After.",
    )
    def delete(self, request):
        confirmation = AccountDeletionSerializer(data=request.data)
        confirmation.is_valid(raise_exception=True)
        try:
            services.delete_own_account(
                user=request.user, password=confirmation.validated_data["password"]
            )
        except services.WrongPassword as error:
            raise serializers.ValidationError({"password": [str(error)]}) from None
        except services.TooManyAttempts as error:
            raise Throttled(wait=error.retry_after, detail=error.message) from None
        except services.DeletionRefused as error:
            raise PermissionDenied(str(error)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
