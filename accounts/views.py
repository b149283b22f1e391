"""Browser pages: register, log in and out, and the account's self-service pages
(password change, password reset by e-mail, deleting the account)."""

import math

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts import login_guard, mailer, services
from accounts.emails import MailSite
from accounts.forms import (
    AccountDeletionForm,
    EmailAuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    RegistrationForm,
    SetPasswordForm,
)
from accounts.identity import canonical_email
from accounts.throttles import RegisterRateThrottle, form_post_wait

#: session key: the address just registered, to fill in the login form once
REGISTERED_EMAIL = "registered_email"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_initial(self):
        initial = super().get_initial()
        if self.request.method == "GET" and REGISTERED_EMAIL in self.request.session:
            initial["username"] = self.request.session.pop(REGISTERED_EMAIL)
        return initial


class LogoutView(auth_views.LogoutView):
    pass


def too_many(request, *, wait: int, message: str, template: str, context: dict):
    """A form page answered 429: the form again with a message saying how long to wait."""
    messages.error(request, message)
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(wait)
    return response


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("classifier:upload")
    if request.method == "POST":
        # The API's registration limit and bucket (THROTTLE_REGISTER, per address).
        wait = form_post_wait(request, RegisterRateThrottle())
        if wait is not None:
            message = ngettext(
                "Too many registrations from your address. Try again in %(seconds)d second.",
                "Too many registrations from your address. Try again in %(seconds)d seconds.",
                wait,
            ) % {"seconds": wait}
            context = {"form": RegistrationForm()}
            template = "accounts/register.html"
            return too_many(request, wait=wait, message=message, template=template, context=context)
    form = RegistrationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = form.register(site=MailSite.of(request))
        if email is not None:
            # The same page whether or not the address had an account: log in next.
            request.session[REGISTERED_EMAIL] = email
            messages.success(
                request,
                gettext(
                    "Thanks, %(name)s. Log in with your email and password to start. We "
                    "have also sent a message to %(email)s: if it already had an account, "
                    "the message says how to get back in."
                )
                % {"name": form.cleaned_data["name"].strip(), "email": email},
            )
            return redirect("accounts:login")
    # A rejected form is a client error, like the upload form's.
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/register.html", {"form": form}, status=status)


# --- My account ---------------------------------------------------------------------------
@login_required
@require_GET
def account(request):
    return render(
        request,
        "accounts/account.html",
        {"is_last_superuser": services.is_last_superuser(user=request.user)},
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view with our form (the change goes through accounts.services)."""

    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("accounts:account")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response

    def form_valid(self, form):
        form.save()
        # Stay logged in here; other sessions and API tokens of the account end.
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, gettext("Your password has been changed."))
        return redirect(self.success_url)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    form_class = PasswordResetForm
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        """Send the link unless this client or this address asked too often (429 and the
        form again). Counted before any account lookup: the same answer either way."""
        reservation = login_guard.reserve_password_reset(
            request=self.request, email=canonical_email(form.cleaned_data["email"])
        )
        if reservation is not None and not reservation.granted:
            minutes = math.ceil(reservation.retry_after / 60)
            form.add_error(
                None,
                ngettext(
                    "Too many password reset requests. Try again in %(minutes)d minute.",
                    "Too many password reset requests. Try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
            )
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(reservation.retry_after)
            return response
        # The account lookup and the e-mail run after the response (accounts.mailer), so
        # known and unknown addresses answer alike.
        options = {
            "domain_override": self.request.get_host(),
            "use_https": self.request.is_secure(),
            "token_generator": self.token_generator,
            "from_email": self.from_email,
            "email_template_name": self.email_template_name,
            "subject_template_name": self.subject_template_name,
            "html_email_template_name": self.html_email_template_name,
            "extra_email_context": self.extra_email_context,
        }
        mailer.send_later(lambda: form.save(**options))
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request):
    """Confirmation page; the POST, confirmed by the password, deletes everything."""
    user = request.user
    refused = services.is_last_superuser(user=user)
    form = AccountDeletionForm(user, request.POST if request.method == "POST" else None)
    status, retry_after = 200, None
    if request.method == "POST" and not refused:
        status = 400
        if form.is_valid():
            try:
                services.delete_own_account(user=user, password=form.cleaned_data["password"])
            except services.WrongPassword as error:
                form.add_error("password", str(error))
            except services.TooManyAttempts as error:
                form.add_error(None, error.message)
                status, retry_after = 429, error.retry_after
            except services.DeletionRefused as error:
                form.add_error(None, str(error))
            else:
                logout(request)
                messages.success(
                    request, gettext("Your account and all its photos and feedback are deleted.")
                )
                return redirect("accounts:login")
    elif request.method == "POST":
        status = 403
    context = {"form": form, "refused": refused}
    response = render(request, "accounts/delete_account.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
