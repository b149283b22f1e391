"""Password-reset e-mails leave the request path (accounts.mailer), against a real SMTP
server: the answer does not wait for it, and the e-mail still arrives.

With the e-mail sent inside the request, an address with an account answered a median
92 ms and one without 16 ms: the timing told which addresses have accounts. Figures
before and after: benchmarks/measure_accounts.py (docs/RELIABILITY.md).
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import mailer
from accounts.tests.smtp_server import SmtpServer
from classifier.tests.reliability_doc import check_section

pytestmark = pytest.mark.django_db(transaction=True)  # the sender reads committed rows

RESET = "/accounts/password/reset/"


@pytest.fixture
def smtp(settings):
    server = SmtpServer(stall_limit=5).start()
    for name, value in server.settings().items():
        setattr(settings, name, value)
    yield server
    server.stop()


def test_the_answer_does_not_wait_for_a_stalled_mail_server_and_the_mail_arrives(smtp, user):
    smtp.stall()  # the mail server accepts the connection but does not greet
    response = Client().post(RESET, {"email": user.email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert smtp.messages == []  # answered while the e-mail is still on its way
    smtp.resume.set()
    (message,) = smtp.wait_for(1, timeout=30)
    assert message["To"] == user.email
    assert "/accounts/password/reset/" in message.get_payload(decode=True).decode()
    assert mailer.wait_until_sent(timeout=30)


def test_known_and_unknown_addresses_get_the_same_answer_and_only_one_mail(smtp, user):
    known = Client().post(RESET, {"email": user.email})
    unknown = Client().post(RESET, {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert mailer.wait_until_sent(timeout=30)
    assert [message["To"] for message in smtp.messages] == [user.email]


def test_reliability_doc_lists_the_reset_mail_cases():
    rows = [
        ("reset-mail-stalled-smtp", "password reset for an account while the SMTP server "
         "stalls (accepts, does not greet)", "302 to the 'sent' page before any e-mail is "
         "delivered; the e-mail arrives once the server answers"),
        ("reset-mail-known-unknown", "reset for an address with an account and one without",
         "the same 302; one e-mail, to the account's address"),
    ]  # fmt: skip
    check_section("reset-mail", rows)
