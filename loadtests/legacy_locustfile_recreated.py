"""Our re-creation of the older system's first locustfile (not its code), the client
that logged in for every prediction: each task logs in again (OAuth2 password form), users
wait `between(1, 3)` seconds, and the home page is hit twice as often as /model/predict.

    .venv/bin/python -m locust -f loadtests/legacy_locustfile_recreated.py \
        --host http://0.0.0.0:8000 -u 10

Each login is a successful one, so the login limits (which count failed attempts) must
never refuse it. Credentials: LEGACY_API_EMAIL / LEGACY_API_PASSWORD (default: the quick
start's admin). `loadtests/legacy_locustfile.py` is the later version (one login per user).
"""

import os

from locust import HttpUser, between, task

from loadtests.legacy_client import OLD_LOGIN_HEADERS, old_login_form
from loadtests.legacy_locustfile import DOG_JPEG

EMAIL = os.environ.get("LEGACY_API_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("LEGACY_API_PASSWORD", "admin")


class RecreatedLegacyClient(HttpUser):
    wait_time = between(1, 3)

    def login(self) -> str | None:
        with self.client.post(
            "/login",
            headers=OLD_LOGIN_HEADERS,
            data=old_login_form(EMAIL, PASSWORD),
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"login answered {response.status_code}: {response.text[:200]}")
                return None
            return response.json()["access_token"]

    @task(2)
    def index(self):
        self.client.get("/")

    @task(1)
    def predict(self):
        token = self.login()
        if token is None:
            return
        files = {"file": ("dog.jpeg", DOG_JPEG, "image/jpeg")}
        headers = {"Authorization": f"Bearer {token}"}
        with self.client.post(
            "/model/predict", headers=headers, files=files, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"predict answered {response.status_code}: {response.text[:200]}")
            elif not response.json().get("success"):
                response.failure(f"answered without success: {response.text[:200]}")
