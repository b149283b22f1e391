from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import login_guard, services
from accounts.identity import MAX_EMAIL_LENGTH, MAX_RAW_LENGTH, normalize_email


class NormalisedEmailField(forms.EmailField):
    """An address in its one spelling (accounts.identity) before it is validated, so the
    full-width or upper-case spelling of an address is that address. Over-long input is
    left as it is, for the length check to refuse."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_EMAIL_LENGTH)
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_email(value) if len(value) <= MAX_RAW_LENGTH else value


class EmailAuthenticationForm(AuthenticationForm):
    username = NormalisedEmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        # Emails are matched case-insensitively, so Django's "may be case-sensitive" misleads.
        "invalid_login": _(
            "That email and password do not match an account. Check both and try again."
        ),
    }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RegistrationForm(forms.Form):
    email = NormalisedEmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    name = forms.CharField(
        max_length=150,
        label=_("Display name"),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        return services.email_or_error(self.cleaned_data["email"])

    def register(self, *, site) -> str | None:
        """Ask for the account (the same outcome whether or not the address is taken: see
        `services.request_registration`); validation errors land on their fields."""
        try:
            return services.request_registration(**self.cleaned_data, site=site)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return None


class NoSuffixMixin:
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PasswordChangeForm(NoSuffixMixin, auth_forms.PasswordChangeForm):
    """Django's form; the new password is stored by accounts.services.change_password.

    The old password is checked through the login guard: wrong ones count against the
    account's failed-login limit, and past it none is checked (`retry_after` is set)."""

    retry_after: int | None = None

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        try:
            correct = login_guard.check_confirmation(user=self.user, password=old_password)
        except login_guard.TooManyAttempts as error:
            self.retry_after = error.retry_after
            raise ValidationError(error.message, code="too_many_attempts") from None
        if not correct:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password

    def save(self, commit: bool = True):
        services.change_password(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class SetPasswordForm(NoSuffixMixin, auth_forms.SetPasswordForm):
    """The reset-by-e-mail form's last step, through the same service as a change."""

    def save(self, commit: bool = True):
        services.change_password(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class PasswordResetForm(NoSuffixMixin, auth_forms.PasswordResetForm):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class AccountDeletionForm(NoSuffixMixin, forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("To confirm that it is you."),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
