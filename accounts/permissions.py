"""Staff is not superuser: staff-only paths check a specific Django permission.

`is_staff` only lets someone into the admin; what they may see or do there, in the older
API's user list, on other people's images, on the queue dashboard and on the quality pages,
is what their permissions (or superuser status) allow. One rule, `staff_may`, decides for
every page, API view and template; a staff user without the permission gets a 403.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import permissions


def staff_may(user, permission: str) -> bool:
    """Whether `user` is an operator holding `permission` ("app_label.codename").

    A superuser holds every permission, with or without `is_staff` (as in Django's
    `has_perm`); anyone else needs `is_staff` and the permission.
    """
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


def staff_permission(permission: str) -> type[permissions.BasePermission]:
    """A DRF permission class for views that are not about one model (the quality figures)."""

    class HasStaffPermission(permissions.BasePermission):
        message = "You do not have permission to see this."

        def has_permission(self, request, view) -> bool:
            return staff_may(request.user, permission)

    HasStaffPermission.__name__ = f"HasStaffPermission[{permission}]"
    return HasStaffPermission


def staff_permission_required(permission: str, *, hidden: bool = False):
    """Page views for operators holding `permission`; staff without it get a 403.

    Everyone else: with `hidden`, anonymous visitors are sent to log in and signed-in
    people who are not staff get a 404 (the page is not advertised to them). Without it
    they go on to the view, which turns them away its own way (django-rq's views send them
    to the admin login, or answer its API token).
    """

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            user = request.user
            if staff_may(user, permission):
                return view(request, *args, **kwargs)
            if user.is_authenticated and user.is_staff:
                raise PermissionDenied
            if not hidden:
                return view(request, *args, **kwargs)
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise Http404

        return guarded

    return decorate
