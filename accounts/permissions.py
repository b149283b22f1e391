"""Staff is not superuser: staff-only paths check a specific Django permission.

`is_staff` only lets someone into the admin; what they may see or do there, in the older
API's user list, on other people's images and on the queue dashboard, is what their
permissions (or superuser status) allow. A staff user without the permission gets a 403.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from rest_framework import permissions


def staff_may(user, permission: str) -> bool:
    """Whether `user` is an operator holding `permission` ("app_label.codename")."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return (user.is_staff or user.is_superuser) and user.has_perm(permission)


class StaffWithPermission(permissions.DjangoModelPermissions):
    """DRF views over a model: reading needs the model's `view_` permission, deleting its
    `delete_` permission, and so on (Django's default model permissions)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if getattr(view, "_ignore_model_permissions", False):
            return True
        queryset = self._queryset(view)
        required = self.get_required_permissions(request.method, queryset.model)
        return all(staff_may(request.user, permission) for permission in required)


def staff_permission_required(permission: str):
    """For views that already admit staff only (django-rq's): staff without `permission`
    get a 403; everyone else goes on to the view, which turns them away its own way."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            user = request.user
            if user.is_authenticated and user.is_staff and not staff_may(user, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorate
