"""Account operations shared by the browser forms, the API and the legacy endpoints."""

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import authentication, emails, login_guard, mailer
from accounts.emails import MailSite
from accounts.identity import MAX_EMAIL_LENGTH, canonical_email
from accounts.models import User

EMAIL_TOO_LONG = _("Enter an email address of at most %(limit)d characters.")
REGISTRATION_RECEIVED = _(
    "Registration received: log in with your email and password. We have also sent a "
    "message to this address; if it already had an account, the message says how to get "
    "back in."
)


class EmailAlreadyRegistered(Exception):
    """Raised when someone registers an email that already has an account."""


def email_or_error(email: str) -> str:
    """The normalised address, or a ValidationError (before any lookup) if it cannot be one."""
    canonical = canonical_email(email)
    if canonical is None:
        raise ValidationError(EMAIL_TOO_LONG % {"limit": MAX_EMAIL_LENGTH}, code="max_length")
    return canonical


def email_is_registered(*, email: str) -> bool:
    canonical = canonical_email(email)
    return canonical is not None and User.objects.filter(email=canonical).exists()


def register_user(*, email: str, name: str, password: str) -> User:
    """Create an ordinary (non-staff) user after running Django's password validators.

    Raises `EmailAlreadyRegistered` or `django.core.exceptions.ValidationError` (a message
    dict keyed by field). For operators and scripts: the registration doors use
    `request_registration`, which answers the same whether or not the address is taken.
    """
    email = _validated(email=email, name=name, password=password)
    if email_is_registered(email=email):
        raise EmailAlreadyRegistered(email)
    return _create(email=email, name=name, password=password)


def _validated(*, email: str, name: str, password: str) -> str:
    try:
        email = email_or_error(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from None
    try:
        validate_password(password, user=User(email=email, name=name))
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    return email


def _create(*, email: str, name: str, password: str) -> User:
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, name=name.strip(), password=password)
    except IntegrityError:
        # Two registrations of the same email raced; the unique index decided.
        raise EmailAlreadyRegistered(email) from None


def request_registration(*, email: str, name: str, password: str, site: MailSite) -> str:
    """Register an address without saying whether it already had an account.

    Validation errors (ValidationError, by field) come first and are the same either way.
    Then a new address gets its account and a welcome e-mail; a taken one gets nothing
    created, the same work done (a password hash) and an e-mail to its owner saying
    someone tried to register it, with links to log in and to reset the password. Both
    e-mails go after the response (`accounts.mailer`), so the answer and its timing are
    the same. Returns the normalised address.
    """
    email = _validated(email=email, name=name, password=password)
    try:
        if email_is_registered(email=email):
            raise EmailAlreadyRegistered(email)
        _create(email=email, name=name, password=password)
    except EmailAlreadyRegistered:
        make_password(password)  # as slow as creating the account
        if login_guard.allow_registration_notice(email=email):
            mailer.send_later(lambda: emails.send_already_registered(email=email, site=site))
    else:
        mailer.send_later(lambda: emails.send_welcome(email=email, site=site))
    return email


def ensure_superuser(*, email: str, password: str, name: str = "Admin") -> tuple[User, bool]:
    """Create the operator account once; never change an existing account's password.

    The password goes through Django's validators (User.objects.create_superuser runs them):
    a ValidationError for "admin", a short or a common one.
    """
    existing = User.objects.filter(email=email_or_error(email)).first()
    if existing is not None:
        return existing, False
    return User.objects.create_superuser(email=email, password=password, name=name), True


class DeletionRefused(PermissionError):
    """The acting user may not delete that account."""


def delete_user(*, actor: User, user: User) -> None:
    """Staff (with the delete permission) may delete ordinary accounts; only superusers may
    delete staff. Nobody deletes their own account this way (it would lock an operator out
    mid-session)."""
    if user.pk == actor.pk:
        raise DeletionRefused(_("You cannot delete your own account here."))
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise DeletionRefused(_("Only a superuser can delete a staff account."))
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


TooManyAttempts = login_guard.TooManyAttempts


def delete_own_account(*, user: User, password: str) -> None:
    """Delete the account and everything in it, confirmed by its password.

    The confirmation counts against the account's failed-login limit (raises
    TooManyAttempts past it), so a stolen session or token cannot guess the password.

    Predictions and feedback go with the account (foreign keys cascade; the classifier
    removes stored images no other prediction uses). The last superuser cannot leave
    this way: nobody could run the site's admin afterwards.
    """
    if is_last_superuser(user=user):
        raise DeletionRefused(
            gettext(
                "You are the only superuser: make someone else a superuser before "
                "deleting your account."
            )
        )
    if not login_guard.check_confirmation(user=user, password=password):
        raise WrongPassword(gettext("The password is not correct."))
    with transaction.atomic():
        user.delete()


# --- Token revocation (connected to the User model's signals in accounts.apps) -------------
def account_saved(*, user: User, credentials_changed: bool) -> None:
    """A password change or reset, or a deactivation, revokes every token issued before."""
    if credentials_changed or not user.is_active:
        authentication.blacklist_refresh_tokens(user)
    authentication.drop_cached(user.pk)
    transaction.on_commit(lambda: authentication.remember_user(user))


def account_deleting(*, user: User) -> None:
    """Before the row goes (the outstanding tokens lose their link to it)."""
    authentication.blacklist_refresh_tokens(user)
    user_id = user.pk
    authentication.drop_cached(user_id)
    transaction.on_commit(lambda: authentication.forget_user(user_id))
