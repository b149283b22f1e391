"""The one authentication backend: every login door checks passwords here.

The address is normalised once (`accounts.identity`) and matched exactly; the failed-login
limits (`accounts.login_guard`) are asked first. A refused attempt raises PermissionDenied,
which makes `authenticate()` stop and return None, and marks the request so that
`config.middleware.LoginLockoutMiddleware` answers 429 whatever the door's form says.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import login_guard
from accounts.identity import canonical_email

#: attribute set on the HttpRequest when a login limit refused the attempt
RETRY_AFTER_ATTRIBUTE = "login_retry_after"


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        User = get_user_model()
        raw = username if username is not None else kwargs.get(User.USERNAME_FIELD)
        if raw is None or password is None:
            return None
        http_request = getattr(request, "_request", request)  # DRF wraps the HttpRequest
        identity = canonical_email(raw)  # None when it cannot be an address: no lookup
        attempt = login_guard.begin(request=http_request, identity=identity)
        if attempt.locked:
            if http_request is not None:
                setattr(http_request, RETRY_AFTER_ATTRIBUTE, attempt.retry_after)
            raise PermissionDenied
        try:
            user = User._default_manager.filter(email=identity).first() if identity else None
            if user is None:
                User().set_password(password)  # as slow as a wrong password: no account probing
            elif user.check_password(password) and self.user_can_authenticate(user):
                attempt.succeeded()
                return user
        except BaseException:
            attempt.release()  # no verdict (the database failed): nothing is counted
            raise
        attempt.failed()
        return None
