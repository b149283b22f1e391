"""Create the operator account from the environment, once (quick start, docker compose).

Safe by default: with no ADMIN_PASSWORD no account is made (the command says how to make
one); a password the validators refuse ("admin", short, common) stops the start with an
error; the password itself is never printed.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import ensure_superuser

HOW_TO_MAKE_ONE = (
    "set ADMIN_PASSWORD (docker compose: in .env) and start again, or run "
    "`python manage.py createsuperuser` (docker compose exec web python manage.py "
    "createsuperuser)"
)


class Command(BaseCommand):
    help = "Create the superuser ADMIN_EMAIL / ADMIN_PASSWORD if it does not exist yet."

    def handle(self, *args, **options):
        email, password = settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD
        if not password:
            self.stdout.write(
                f"No ADMIN_PASSWORD: no operator account created. To make one, {HOW_TO_MAKE_ONE}."
            )
            return
        try:
            user, created = ensure_superuser(email=email, password=password)
        except ValidationError as error:
            reasons = " ".join(error.messages)
            raise CommandError(
                f"ADMIN_PASSWORD is refused for {email}: {reasons} Choose a long random one "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'), "
                "or leave it empty and create the account with createsuperuser."
            ) from None
        if created:
            where = settings.ADMIN_PASSWORD_FILE or "ADMIN_PASSWORD"
            self.stdout.write(f"Created superuser {user.email} (the password is in {where})")
        else:
            self.stdout.write(f"Superuser {user.email} already exists (password unchanged)")
