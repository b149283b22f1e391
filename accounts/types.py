"""Types for annotations: who is asking (a signed-in user, or an anonymous visitor)."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser

from accounts.models import User

Requester: TypeAlias = User | AnonymousUser
