"""The older system's load test, written the way its clients talk: /login form, then
`dog.jpeg` posted to /model/predict with a Bearer token, and the home page.

    .venv/bin/python -m locust -f loadtests/legacy_locustfile.py --host http://127.0.0.1:8000

Credentials come from LEGACY_API_EMAIL / LEGACY_API_PASSWORD (default: the quick start's
admin). The picture is made at start from a scikit-image photo; no data file is committed.
"""

import io
import os

from locust import HttpUser, between, task

from loadtests.legacy_client import OLD_LOGIN_HEADERS, old_login_form

EMAIL = os.environ.get("LEGACY_API_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("LEGACY_API_PASSWORD", "admin")


def make_dog_jpeg() -> bytes:
    """A real photo (scikit-image's cat, Chelsea) as JPEG bytes, like the old `dog.jpeg`."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


DOG_JPEG = make_dog_jpeg()


def login(client, username: str, password: str) -> str | None:
    """The old UI's login: OAuth2 password form with the empty optional fields."""
    response = client.post(
        "/login", headers=OLD_LOGIN_HEADERS, data=old_login_form(username, password)
    )
    if response.status_code == 200:
        return response.json()["access_token"]
    return None


class LegacyClient(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self):
        self.token = login(self.client, EMAIL, PASSWORD)

    @task(2)
    def index(self):
        self.client.get("/")

    @task(1)
    def predict(self):
        if not self.token:
            return
        files = {"file": ("dog.jpeg", DOG_JPEG, "image/jpeg")}
        headers = {"Authorization": f"Bearer {self.token}"}
        with self.client.post(
            "/model/predict", headers=headers, files=files, catch_response=True
        ) as response:
            if response.status_code == 200 and not response.json().get("success"):
                response.failure(f"answered without success: {response.text[:200]}")
