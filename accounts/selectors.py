"""Reads of accounts that encode who may see them."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.permissions import staff_may
from accounts.types import Requester

#: what lets an operator reach other people's accounts through the older API's /user/
ACCOUNT_PERMISSIONS = ("accounts.view_user", "accounts.delete_user")


def accounts_visible_to(*, user: Requester) -> QuerySet:
    """Every account, oldest first, for staff holding a permission over accounts; none for
    anyone else, so a view built on it cannot list or delete an account by accident."""
    User = get_user_model()
    if not any(staff_may(user, permission) for permission in ACCOUNT_PERMISSIONS):
        return User.objects.none()
    return User.objects.order_by("id")
