"""JSON API for accounts: register, obtain and refresh JWTs, who am I, delete my account."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import services
from accounts.serializers import (
    AccountDeletionSerializer,
    RefreshSerializer,
    RegistrationSerializer,
    TokenObtainSerializer,
    UserSerializer,
)
from accounts.throttles import RefreshRateThrottle, RegisterRateThrottle


def register_from_validated(data: dict):
    """Run the registration service and turn its errors into DRF 400s."""
    try:
        return services.register_user(**data)
    except services.EmailAlreadyRegistered:
        raise serializers.ValidationError({"email": [_("Email already registered")]}) from None
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from None


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(request=RegistrationSerializer, responses={201: UserSerializer})
    def post(self, request):
        serializer = RegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = register_from_validated(serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    """Failed attempts are limited behind authenticate() (accounts.login_guard)."""

    serializer_class = TokenObtainSerializer
    throttle_classes = []


class RefreshView(TokenRefreshView):
    serializer_class = RefreshSerializer
    throttle_classes = [RefreshRateThrottle]


class MeView(generics.RetrieveAPIView):
    serializer_class = UserSerializer

    def get_object(self):
        return self.request.user

    @extend_schema(
        request=AccountDeletionSerializer,
        responses={204: None},
        description="Delete your account, your predictions (and their images) and your "
        "feedback, confirmed by your password. The last superuser gets 403.",
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
        except services.DeletionRefused as error:
            raise PermissionDenied(str(error)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
