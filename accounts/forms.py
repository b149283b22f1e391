from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.identity import MAX_EMAIL_LENGTH, MAX_RAW_LENGTH, normalize_email

ALREADY_REGISTERED = _("An account with this email already exists.")


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
        email = services.email_or_error(self.cleaned_data["email"])
        if services.email_is_registered(email=email):
            raise ValidationError(ALREADY_REGISTERED)
        return email

    def register(self):
        """Create the user; field errors from validation land on their fields."""
        try:
            return services.register_user(**self.cleaned_data)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        except services.EmailAlreadyRegistered:
            self.add_error("email", ALREADY_REGISTERED)
        return None


class NoSuffixMixin:
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PasswordChangeForm(NoSuffixMixin, auth_forms.PasswordChangeForm):
    """Django's form; the new password is stored by accounts.services.change_password."""

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
