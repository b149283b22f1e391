from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts import services


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        # Emails are matched case-insensitively, so Django's "may be case-sensitive" misleads.
        "invalid_login": "That email and password do not match an account. Check both and "
        "try again.",
    }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RegistrationForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    name = forms.CharField(
        max_length=150,
        label="Display name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if services.email_is_registered(email=email):
            raise ValidationError("An account with this email already exists.")
        return email

    def register(self):
        """Create the user; field errors from password validation land on `password`."""
        try:
            return services.register_user(**self.cleaned_data)
        except ValidationError as error:
            self.add_error("password", error)
        except services.EmailAlreadyRegistered:
            self.add_error("email", "An account with this email already exists.")
        return None
