"""Create the operator account from the environment, once (used by the quick start)."""

import os

from django.core.management.base import BaseCommand

from accounts.services import ensure_superuser


class Command(BaseCommand):
    help = "Create the superuser ADMIN_EMAIL / ADMIN_PASSWORD if it does not exist yet."

    def handle(self, *args, **options):
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
        password = os.environ.get("ADMIN_PASSWORD", "admin")
        user, created = ensure_superuser(email=email, password=password)
        if created:
            self.stdout.write(f"Created superuser {user.email} with password {password!r}")
        else:
            self.stdout.write(f"Superuser {user.email} already exists (password unchanged)")
