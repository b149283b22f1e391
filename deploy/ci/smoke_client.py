"""What the compose smoke checks share (deploy/ci/compose_smoke.py and smoke_training.py): the
site through nginx, real photos, the project's containers, and the one way a check fails."""

from __future__ import annotations

import io
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image
from skimage import data as sample_images

TIMEOUT = 60  # seconds for one request (an upload waits up to PREDICT_WAIT_SECONDS = 30)


class SmokeFailure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def ok(message: str) -> None:
    print(f"compose-smoke: ok  {message}", flush=True)


def photo(name: str = "chelsea", crop_seed: int | None = None) -> bytes:
    """A real photo (scikit-image's samples) as JPEG; a seeded crop gives bytes the result
    cache has never seen, so only a worker can answer."""
    pixels = np.asarray(getattr(sample_images, name)())
    if crop_seed is not None:
        top, left = np.random.default_rng(crop_seed).integers(0, 40, size=2)
        pixels = pixels[top : top + 260, left : left + 360]
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def read_env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


class Site:
    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def form_token(self, session: requests.Session, path: str) -> str:
        page = session.get(self.url + path, timeout=TIMEOUT)
        check(page.status_code == 200, f"GET {path}: {page.status_code}")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        check(found is not None, f"GET {path}: no CSRF token in the form")
        return found.group(1)

    def browser_post(self, session, path: str, data: dict, files=None) -> requests.Response:
        """A form POST as a browser sends it: the page's token, Origin and Referer."""
        token = self.form_token(session, path)
        return session.post(
            self.url + path,
            data={**data, "csrfmiddlewaretoken": token},
            files=files,
            headers={"Origin": self.url, "Referer": self.url + path},
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def wait_until_finished(self, headers: dict, prediction: dict, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        while prediction["status"] not in ("done", "failed"):
            check(time.monotonic() < deadline, f"prediction still {prediction['status']}")
            answer = requests.get(
                prediction["url"], params={"wait": 20}, headers=headers, timeout=TIMEOUT
            )
            check(answer.status_code in (200, 202), f"GET prediction: {answer.status_code}")
            prediction = answer.json()
        return prediction


def api_headers(site: Site, email: str, password: str) -> dict:
    token = requests.post(
        f"{site.url}/api/auth/token/", json={"email": email, "password": password}, timeout=60
    )
    check(token.status_code == 200, f"token: {token.status_code} {token.text[:300]}")
    return {"Authorization": f"Bearer {token.json()['access']}"}


# --- the containers ------------------------------------------------------------------------
class Containers:
    """The project's containers through the docker CLI (the smoke client runs on the host)."""

    def __init__(self, docker: str, project: str):
        self.docker = docker
        self.project = project

    def container(self, service: str = "worker") -> str:
        ids = subprocess.run(
            [
                self.docker,
                "ps",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
        check(len(ids) == 1, f"expected one {service} container, found {ids}")
        return ids[0]

    def inspect(self, container: str, template: str) -> str:
        return subprocess.run(
            [self.docker, "inspect", "-f", template, container],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()

    def manage(self, service: str, *args: str, env: dict | None = None, timeout: float = 120):
        """`python manage.py ARGS` in the service's container (as `docker compose exec`)."""
        extra = [part for name, value in (env or {}).items() for part in ("-e", f"{name}={value}")]
        return subprocess.run(
            [self.docker, "exec", *extra, self.container(service), "python", "manage.py", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
