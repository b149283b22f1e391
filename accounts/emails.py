"""The account e-mails besides the password reset: welcome, and "this address already has
an account". Rendered and sent by `accounts.mailer`'s thread, after the response."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import User


@dataclass(frozen=True)
class MailSite:
    """Where links in an e-mail point: the host the request came to."""

    domain: str
    use_https: bool

    @classmethod
    def of(cls, request) -> MailSite:
        return cls(domain=request.get_host(), use_https=request.is_secure())

    def url(self, name: str) -> str:
        scheme = "https" if self.use_https else "http"
        return f"{scheme}://{self.domain}{reverse(name)}"


def _send(*, user: User, template: str, site: MailSite) -> None:
    context = {
        "user": user,
        "domain": site.domain,
        "login_url": site.url("accounts:login"),
        "reset_url": site.url("accounts:password_reset"),
    }
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context)
    body = render_to_string(f"accounts/email/{template}.txt", context)
    send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [user.email])


def send_welcome(*, email: str, site: MailSite) -> None:
    user = User.objects.filter(email=email).first()
    if user is not None:
        _send(user=user, template="welcome", site=site)


def send_already_registered(*, email: str, site: MailSite) -> None:
    user = User.objects.filter(email=email).first()
    if user is not None:
        _send(user=user, template="already_registered", site=site)
