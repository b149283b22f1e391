"""Create the operator account from the environment, once (used by the quick start)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import ensure_superuser


class Command(BaseCommand):
    help = "Create the superuser ADMIN_EMAIL / ADMIN_PASSWORD if it does not exist yet."

    def handle(self, *args, **options):
        email, password = settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD
        user, created = ensure_superuser(email=email, password=password)
        if created:
            self.stdout.write(f"Created superuser {user.email} with password {password!r}")
        else:
            self.stdout.write(f"Superuser {user.email} already exists (password unchanged)")
