"""The older API's account endpoints: `POST /login` (OAuth2 password form) and `/user/`.

Same tokens and the same registration service as /api/auth/; only the shapes differ.
Authentication is by JWT alone (no session), so CSRF does not apply.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, parsers, permissions, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import VersionedJWTAuthentication
from accounts.emails import MailSite
from accounts.permissions import StaffWithPermission
from accounts.serializers import RegistrationSerializer, TokenObtainSerializer, UserSerializer
from accounts.throttles import RegisterRateThrottle


class LegacyLoginSerializer(TokenObtainSerializer):
    """OAuth2's password form: the email arrives as `username`; the other fields may be empty."""

    username_field = "username"  # passed to authenticate(username=...), which the email backs

    grant_type = serializers.ChoiceField(choices=["", "password"], required=False)
    scope = serializers.CharField(required=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True)
    client_secret = serializers.CharField(required=False, allow_blank=True)


class LegacyRegistrationSerializer(RegistrationSerializer):
    name = serializers.CharField(min_length=2, max_length=150)


@extend_schema(exclude=True)  # documented in docs/MIGRATION.md
class LegacyLoginView(APIView):
    authentication_classes = []  # a stale token in the header must not block logging in
    permission_classes = [permissions.AllowAny]
    parser_classes = [parsers.FormParser, parsers.MultiPartParser]
    throttle_classes = []  # failed attempts are limited behind authenticate()

    def get_authenticate_header(self, request) -> str:
        return "Bearer"  # makes bad credentials a 401 (DRF turns it into 403 without one)

    def post(self, request):
        form = LegacyLoginSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)  # bad credentials raise AuthenticationFailed
        tokens = form.validated_data
        return Response(
            {
                "access_token": tokens["access"],
                "token_type": "bearer",
                "refresh_token": tokens["refresh"],  # new: for /api/auth/token/refresh/
            }
        )


class StaffOrRegistering(StaffWithPermission):
    """Anyone may register (POST); listing accounts needs `accounts.view_user`."""

    def has_permission(self, request, view) -> bool:
        return request.method == "POST" or super().has_permission(request, view)


@extend_schema(exclude=True)  # documented in docs/MIGRATION.md
class LegacyUsersView(generics.ListCreateAPIView):
    authentication_classes = [VersionedJWTAuthentication]
    permission_classes = [StaffOrRegistering]
    serializer_class = UserSerializer
    pagination_class = None  # the old clients expect a bare list

    def get_queryset(self):
        return selectors.accounts_visible_to(user=self.request.user)

    def get_throttles(self):
        return [RegisterRateThrottle()] if self.request.method == "POST" else []

    def create(self, request, *args, **kwargs):
        """201 whether or not the address already had an account (its owner is e-mailed
        instead); `id` is null, as it cannot be given for one and not the other."""
        incoming = LegacyRegistrationSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            email = services.request_registration(
                **incoming.validated_data, site=MailSite.of(request)
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        name = incoming.validated_data["name"].strip()
        return Response({"id": None, "name": name, "email": email}, status=status.HTTP_201_CREATED)


@extend_schema(exclude=True)  # documented in docs/MIGRATION.md
class LegacyUserView(generics.RetrieveDestroyAPIView):
    authentication_classes = [VersionedJWTAuthentication]
    permission_classes = [StaffWithPermission]
    serializer_class = UserSerializer

    def get_queryset(self):
        return selectors.accounts_visible_to(user=self.request.user)

    def perform_destroy(self, instance):
        try:
            services.delete_user(actor=self.request.user, user=instance)
        except services.DeletionRefused as error:
            raise PermissionDenied(str(error)) from None
