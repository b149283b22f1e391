"""Content-Security-Policy: on every answer, and no page of ours needs an exception to it.

The header check runs on the test client; the page check drives headless Chromium over
the pages people, operators and API users open (site, admin, DRF's browsable API,
Swagger UI) against real gunicorn, and fails on any CSP violation Chromium reports.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from classifier.tests.page_helpers import make_prediction

pytestmark = pytest.mark.django_db

BASE_DIR = Path(settings.BASE_DIR)


def test_every_answer_carries_a_policy_without_inline_script_or_style(client):
    for path in ["/", "/accounts/login/", "/api/health/", "/api/docs/", "/static-missing/"]:
        policy = Client().get(path)["Content-Security-Policy"]
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in policy.split("; ") if part
        )
        assert directives["script-src"] == ["'self'"], policy
        assert directives["style-src"] == ["'self'"], policy
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def policy_of(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ") if part}


def test_queue_pages_admit_exactly_their_own_inline_blocks(client, make_user, clean_redis):
    """django-rq's pages carry fixed inline blocks: their policy admits those by hash (no
    'unsafe-inline'), and only there; every other page keeps the plain policy."""
    import base64
    import hashlib

    from django.conf import settings as django_settings
    from rq import Queue

    def digest(text: str) -> str:
        return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"

    Queue(django_settings.INFERENCE_QUEUE, connection=clean_redis).enqueue("math.floor", 1.5)
    client.force_login(make_user(email="ops@example.com", is_staff=True, is_superuser=True))
    pages = ["/admin/rq/", "/admin/rq/queues/0/", "/admin/rq/queues/0/empty/"]
    seen = {"script": 0, "style": 0, "attribute": 0}
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        policy = policy_of(response)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        for kind, body in re.findall(r"<(script|style)(?![^>]*\bsrc=)[^>]*>(.*?)</\1>", html, re.S):
            assert digest(body) in policy[f"{kind}-src"], (path, kind, body[:80])
            seen[kind] += 1
    confirm = client.post(
        "/admin/rq/queues/confirm-action/0/",
        {"action": "delete", "_selected_action": ["none"]},
    )
    for value in re.findall(r'\sstyle="([^"]*)"', confirm.content.decode()):
        assert digest(value) in policy_of(confirm)["style-src"], value
        seen["attribute"] += 1
    assert all(seen.values()), seen
    plain = policy_of(client.get("/admin/"))
    assert plain["script-src"] == ["'self'"] and plain["style-src"] == ["'self'"]


def our_templates() -> list[Path]:
    skip = {".venv", "staticfiles", "node_modules"}
    return [
        path
        for path in BASE_DIR.rglob("*.html")
        if not skip.intersection(path.relative_to(BASE_DIR).parts)
    ]


def test_no_template_has_inline_script_style_or_event_handler():
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"
        r"|<style\b|\sstyle=\"|\son[a-z]+=\"",
        re.I,
    )
    templates = our_templates()
    assert len(templates) > 10
    offenders = {
        str(path.relative_to(BASE_DIR)): inline.findall(path.read_text())
        for path in templates
        if inline.search(path.read_text())
    }
    assert offenders == {}


# --- in Chromium -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.browser
def test_main_pages_raise_no_csp_violation_in_chromium(shared_stack, transactional_db, make_user):
    from playwright.sync_api import expect, sync_playwright

    from testing.chromium import CHROMIUM_ARGS, CHROMIUM_PATH

    if not CHROMIUM_PATH.exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM_PATH} (apt-get install chromium)")
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    prediction = make_prediction(admin)
    stack = shared_stack()
    pages = [
        ("/", "main"),
        ("/predictions/", "main"),
        (f"/predictions/{prediction.pk}/", "#top5"),
        ("/admin/", "#content"),
        ("/admin/classifier/prediction/", "#result_list"),
        (f"/admin/classifier/prediction/{prediction.pk}/change/", "#content"),
        ("/admin/accounts/user/", "#result_list"),
        ("/admin/rq/", "#changelist"),  # django-rq's pages: their inline blocks, by hash
        ("/admin/rq/queues/0/", "#changelist-form"),
        ("/admin/rq/queues/0/empty/", "#content"),
        ("/api/predictions/", ".response-info"),
        (f"/api/predictions/{prediction.pk}/", ".response-info"),
        ("/api/docs/", ".swagger-ui .information-container"),
    ]
    violations, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_context(base_url=stack.url).new_page()
            page.set_default_timeout(15_000)
            page.on(
                "console",
                lambda message: (
                    violations.append(f"{page.url}: {message.text}")
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
            for path in ["/accounts/login/", "/accounts/register/", "/api-auth/login/"]:
                page.goto(path)
            page.goto("/accounts/login/")
            page.get_by_label("Email").fill(admin.email)
            page.get_by_label("Password").fill("correct-horse-42")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{stack.url}/")
            for path, selector in pages:
                page.goto(path)
                expect(page.locator(selector).first).to_be_visible()
            # result.js ran: the best guess's bar has its length
            page.goto(f"/predictions/{prediction.pk}/")
            width = page.locator("#top5 li .bar-fill").first.evaluate(
                "element => element.style.width"
            )
            assert width == "62.13%"
        finally:
            browser.close()
    assert violations == [], "\n".join(violations)
    assert errors == []
