"""Account operations shared by the browser forms, the API and the legacy endpoints."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

User = get_user_model()


class EmailAlreadyRegistered(Exception):
    """Raised when someone registers an email that already has an account."""


def email_is_registered(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


def register_user(*, email: str, name: str, password: str) -> User:
    """Create an ordinary (non-staff) user after running Django's password validators.

    Raises `EmailAlreadyRegistered` or `django.core.exceptions.ValidationError`.
    """
    email = User.objects.normalize_email(email.strip()).lower()
    if email_is_registered(email=email):
        raise EmailAlreadyRegistered(email)
    validate_password(password, user=User(email=email, name=name))
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, name=name.strip(), password=password)
    except IntegrityError:
        # Two registrations of the same email raced; the unique index decided.
        raise EmailAlreadyRegistered(email) from None


def ensure_superuser(*, email: str, password: str, name: str = "Admin") -> tuple[User, bool]:
    """Create the operator account once; never change an existing account's password."""
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing, False
    return User.objects.create_superuser(email=email, password=password, name=name), True


class DeletionRefused(PermissionError):
    """The acting user may not delete that account."""


def delete_user(*, actor: User, user: User) -> None:
    """Staff may delete ordinary accounts; only superusers may delete staff. Nobody deletes
    their own account this way (it would lock an operator out mid-session)."""
    if user.pk == actor.pk:
        raise DeletionRefused("You cannot delete your own account here.")
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise DeletionRefused("Only a superuser can delete a staff account.")
    user.delete()


# --- Self-service: a person managing their own account ------------------------------------
class WrongPassword(ValueError):
    """The password given to confirm an operation is not the account's."""


def change_password(*, user: User, password: str) -> None:
    """Every password change goes through here: the change form, the reset-by-e-mail form.

    Runs Django's password validators first (raises ValidationError). Setting the
    password revokes the account's API tokens (User.set_password bumps the token version
    the JWT authentication checks), so anything else a password change must do belongs
    here too.
    """
    validate_password(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])


def is_last_superuser(*, user: User) -> bool:
    return (
        user.is_superuser
        and not User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk).exists()
    )


def delete_own_account(*, user: User, password: str) -> None:
    """Delete the account and everything in it, confirmed by its password.

    Predictions and feedback go with the account (foreign keys cascade; the classifier
    removes stored images no other prediction uses). The last superuser cannot leave
    this way: nobody could run the site's admin afterwards.
    """
    if not user.check_password(password):
        raise WrongPassword(gettext("The password is not correct."))
    if is_last_superuser(user=user):
        raise DeletionRefused(
            gettext(
                "You are the only superuser: make someone else a superuser before "
                "deleting your account."
            )
        )
    with transaction.atomic():
        user.delete()
