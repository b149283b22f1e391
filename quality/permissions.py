"""Who may open the quality pages: staff with the specific permission (superusers have all).

Pages: anonymous → login; a signed-in non-staff user → 404 (the pages are not advertised);
staff without the permission → 403. The API answers 401/403 in JSON (DRF's classes).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.permissions import BasePermission

from quality.selectors import has_quality_permission


def staff_permission_required(permission: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.is_staff:
                raise Http404
            if not has_quality_permission(user, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def staff_permission(permission: str) -> type[BasePermission]:
    """A DRF permission class for one quality permission."""

    class HasStaffPermission(BasePermission):
        message = "You do not have permission to see model quality figures."

        def has_permission(self, request, view) -> bool:
            return has_quality_permission(request.user, permission)

    HasStaffPermission.__name__ = f"HasStaffPermission[{permission}]"
    return HasStaffPermission
