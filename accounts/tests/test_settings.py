"""Production settings: secure by default, refusing to start without their secrets.

Settings are read from the environment once, at import, so each case runs Python in a
subprocess with an environment built from scratch (nothing leaks in from the test run,
which itself runs with DEBUG=1). The last test runs gunicorn with DEBUG=0.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from classifier.imaging import validate_image_bytes
from classifier.models import Prediction
from classifier.services import store_image
from classifier.tests.reliability_doc import check_section
from testing.photos import photo_bytes

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qp9Lm2Zr8Vt4Ws6Yn1Bc5Hd0Jf3Gk" * 2,
    "ALLOWED_HOSTS": "classifier.example.com",
}
SHOW_SETTINGS = """
import json, sys
sys.path.insert(0, ".")
from config import settings as s
print(json.dumps({name: getattr(s, name) for name in sys.argv[1:]}, default=str))
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- Starting up with (or without) what production needs -----------------------------------
@dataclass(frozen=True)
class Startup:
    id: str
    what: str
    env: dict[str, str]
    #: an error that stops the start, or the settings it must end up with
    error: str = ""
    expect: dict = field(default_factory=dict)

    @property
    def result(self) -> str:
        if self.error:
            return f'refuses to start: "{self.error}"'
        return ", ".join(f"{name}={value}" for name, value in self.expect.items())


STARTUPS = [
    Startup(
        "prod-no-secret-key",
        "DEBUG=0, ALLOWED_HOSTS set, no SECRET_KEY",
        {"DEBUG": "0", "ALLOWED_HOSTS": "classifier.example.com"},
        error="SECRET_KEY must be set in the environment when DEBUG is off.",
    ),
    Startup(
        "prod-empty-secret-key",
        "DEBUG=0, SECRET_KEY=''",
        {"DEBUG": "0", "SECRET_KEY": "", "ALLOWED_HOSTS": "classifier.example.com"},
        error="SECRET_KEY must be set in the environment when DEBUG is off.",
    ),
    Startup(
        "prod-no-allowed-hosts",
        "DEBUG=0, SECRET_KEY set, no ALLOWED_HOSTS",
        {"DEBUG": "0", "SECRET_KEY": PRODUCTION["SECRET_KEY"]},
        error="ALLOWED_HOSTS must be set in the environment when DEBUG is off.",
    ),
    Startup(
        "prod-is-the-default",
        "SECRET_KEY and ALLOWED_HOSTS set, DEBUG not set at all",
        {key: value for key, value in PRODUCTION.items() if key != "DEBUG"},
        expect={
            "DEBUG": False,
            "SECURE_SSL_REDIRECT": True,
            "SESSION_COOKIE_SECURE": True,
            "CSRF_COOKIE_SECURE": True,
            "SECURE_HSTS_SECONDS": 31536000,
            "ALLOWED_HOSTS": ["classifier.example.com"],
        },
    ),
    Startup(
        "dev-defaults",
        "DEBUG=1 and nothing else",
        {"DEBUG": "1"},
        expect={"DEBUG": True, "SECURE_SSL_REDIRECT": False},
    ),
]


@pytest.mark.parametrize("case", STARTUPS, ids=lambda case: case.id)
def test_startup(case):
    result = run(["-c", SHOW_SETTINGS, *case.expect], case.env)
    if case.error:
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert case.error in result.stderr
        return
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    for name, value in case.expect.items():
        assert shown[name] == value, name


# --- python manage.py check --deploy -------------------------------------------------------
DEPLOY_CHECKS = [
    ("deploy-check-clean", "manage.py check --deploy, DEBUG=0, SECRET_KEY, ALLOWED_HOSTS", {}, []),
    (
        "deploy-check-plain-http",
        "the same with HTTPS=0 (a local run without TLS, as in docker-compose.yml)",
        {"HTTPS": "0"},
        ["security.W004", "security.W008", "security.W012", "security.W016"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", DEPLOY_CHECKS, ids=lambda case: case[0])
def test_deploy_check(case):
    _, _, env, warnings = case
    result = run(["manage.py", "check", "--deploy"], {**PRODUCTION, **env})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    if not warnings:
        assert "System check identified no issues" in output, output
    found = sorted(
        set(part.strip("():") for part in output.split() if part.startswith("(security."))
    )
    assert found == warnings, output


# --- Uploaded images under DEBUG=0, on a real server ---------------------------------------
def session_for(stack, user) -> requests.Session:
    """Log in by posting the form (without rendering it: no collected static files here)."""
    session = requests.Session()
    token = "c" * 32
    session.cookies.set("csrftoken", token)
    response = session.post(
        f"{stack.url}/accounts/login/",
        data={"username": user.email, "password": "correct-horse-42", "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    return session


def raw_get(stack, path: str) -> int:
    """GET without any client-side path normalisation (for ../ tricks)."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.config.web_port, timeout=10)
    connection.request("GET", path)
    return connection.getresponse().status


MEDIA_PROBES = [
    ("prod-media-url", "/media/{stored}"),
    ("prod-media-listing", "/media/"),
    ("prod-media-images-listing", "/media/images/"),
    ("prod-media-url-setting", "/media-not-served/{stored}"),
    ("prod-static-listing", "/static/"),
    ("prod-static-traversal", "/static/../media/{stored}"),
    ("prod-static-encoded-traversal", "/static/%2e%2e/media/{stored}"),
]


@pytest.mark.slow
def test_images_are_served_only_to_their_owner_under_debug_off(live_stack, make_user):
    owner = make_user(email="owner@example.com")
    other = make_user(email="other@example.com")
    content = photo_bytes("rocket")
    image = validate_image_bytes(content)
    prediction = Prediction.objects.create(
        owner=owner,
        image=store_image(image),
        image_sha256=image.sha256,
        model_name="resnet50 (random weights)",
    )
    stack = live_stack(workers=0, **{**PRODUCTION, "ALLOWED_HOSTS": "127.0.0.1", "HTTPS": "0"})
    image_url = f"{stack.url}/predictions/{prediction.pk}/image/"

    mine = session_for(stack, owner).get(image_url, timeout=10)
    assert mine.status_code == 200
    assert mine.content == content
    assert mine.headers["Content-Type"] == "image/jpeg"
    assert mine.headers["X-Content-Type-Options"] == "nosniff"
    assert mine.headers["Cache-Control"].startswith("private")
    assert session_for(stack, other).get(image_url, timeout=10).status_code == 404
    anonymous = requests.get(image_url, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/accounts/login/")

    for case, path in MEDIA_PROBES:
        assert raw_get(stack, path.format(stored=prediction.image.name)) == 404, case
    missing = requests.get(f"{stack.url}/no/such/page/", timeout=10)
    assert missing.status_code == 404
    assert "Traceback" not in missing.text and "URLconf" not in missing.text


# --- The document --------------------------------------------------------------------------
def test_reliability_doc_lists_every_settings_case():
    rows = [(case.id, case.what, case.result) for case in STARTUPS]
    for case_id, what, _, warnings in DEPLOY_CHECKS:
        result = "no issues" if not warnings else "warns " + ", ".join(warnings) + " only"
        rows.append((case_id, what, result))
    rows.append(
        (
            "prod-image-owner-only",
            "DEBUG=0 gunicorn: an uploaded image fetched by its owner, another user, anonymously",
            "owner 200 (the bytes, image/jpeg, nosniff, private cache) · other 404 · "
            "anonymous 302 to login",
        )
    )
    rows += [(case, f"DEBUG=0 gunicorn: GET {path}", "404") for case, path in MEDIA_PROBES]
    rows.append(("prod-404-page", "DEBUG=0: an unknown URL", "404 without debug details"))
    check_section("settings", rows)
