"""A user who logs in with an email address and has a display name."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import PermissionsMixin
from django.contrib.auth.password_validation import validate_password
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.identity import normalize_email


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        """Every way of making a superuser ends here (`createsuperuser` with or without
        --noinput, `ensure_superuser`, a shell), so the password validators run here: Django's
        non-interactive `createsuperuser` would otherwise accept "admin". No password gives
        an account that cannot log in until someone sets one."""
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if password is not None:
            candidate = self.model(email=normalize_email(email), name=extra_fields.get("name", ""))
            validate_password(password, user=candidate)
        return self.create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str) -> "User":
        # Stored addresses are normalised (accounts.identity): an exact match, never iexact.
        return self.get(email=normalize_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_(
            "Staff users can log into the admin; what they may see and change there (and in "
            "the older API) is decided by their permissions."
        ),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    #: Carried in every JWT as the "ver" claim; changing the password (or deactivating the
    #: account) raises it, so every token issued before stops working (accounts.authentication).
    token_version = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email or "")

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email

    def set_password(self, raw_password: str | None) -> None:
        """A new password for an existing account revokes its tokens (on save)."""
        super().set_password(raw_password)
        if self.pk is not None:
            self.token_version += 1

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        if self.pk is not None:
            self.token_version += 1

    def check_password(self, raw_password: str) -> bool:
        """As Django's, except that re-hashing with an upgraded hasher is not a password
        change: it keeps the token version, so the account's other devices stay logged in."""

        def rehash(raw: str) -> None:
            AbstractBaseUser.set_password(self, raw)
            self._password = None
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, rehash)

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "password" in update_fields:
            kwargs["update_fields"] = {*update_fields, "token_version"}
        super().save(*args, **kwargs)
