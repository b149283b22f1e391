"""The older system's clients refused by a running gunicorn with no model worker: a 504 when
no model answers in time, a 400 for a host the quick start does not serve.

Apart from test_legacy_clients.py, whose module-wide model worker would answer the upload
these tests need left unanswered.
"""

import pytest
import requests

from accounts.tests.test_hosts import quick_start_allowed_hosts
from accounts.tests.test_legacy_clients import (
    PASSWORD,
    QUICK_START_HOSTS,
    old_ui_login,
    old_ui_predict,
)
from testing.photos import photo_bytes

pytestmark = [pytest.mark.slow]


def test_old_client_gets_504_instead_of_hanging_when_no_model_answers(live_stack, user):
    stack = live_stack(workers=0, PREDICT_WAIT_SECONDS="1")
    token = old_ui_login(stack.url, user.email, PASSWORD).json()["access_token"]
    response = old_ui_predict(stack.url, token, ("cat.jpg", photo_bytes("chelsea")))
    assert response.status_code == 504
    assert "did not answer" in response.json()["detail"]
    assert response.elapsed.total_seconds() < 15


def test_a_disallowed_host_is_a_400_and_one_log_line(live_stack):
    stack = live_stack(workers=0, ALLOWED_HOSTS=QUICK_START_HOSTS)
    for host in quick_start_allowed_hosts():
        answer = requests.get(f"{stack.url}/accounts/login/", headers={"Host": host}, timeout=10)
        assert answer.status_code == 200, host
    refused = requests.get(
        f"{stack.url}/accounts/login/", headers={"Host": "evil.example.com"}, timeout=10
    )
    assert refused.status_code == 400
    web_log = (stack.config.log_dir / "web.log").read_text()
    about_it = [line for line in web_log.splitlines() if "evil.example.com" in line]
    assert len(about_it) == 1, web_log[-3000:]
    assert "WARNING django.security.DisallowedHost" in about_it[0]
    assert "Traceback" not in web_log
