"""`{% if user|staff_may:"quality.view_dashboard" %}`: templates ask the same rule as views."""

from django import template

from accounts import permissions

register = template.Library()


@register.filter
def staff_may(user, permission: str) -> bool:
    return permissions.staff_may(user, permission)
