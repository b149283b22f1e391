"""The older system's clients (as in loadtests/legacy_*) against a running server: gunicorn
and a model worker process, one stack for the module (`shared_stack`); their refusals are in
test_legacy_refusals.py.

Each request is made the way the old Streamlit UI and locustfile make it (requests,
form login with empty OAuth2 fields, `files=` uploads, `json=` feedback), addressed the
way they address it (`http://0.0.0.0:8000`), with the quick start's allowed hosts.
"""

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from accounts.tests.test_hosts import quick_start_allowed_hosts
from classifier.models import Prediction
from feedback.models import Feedback
from loadtests.legacy_client import OLD_LOGIN_HEADERS, old_login_form
from testing.photos import distinct_photo, photo_bytes

pytestmark = [pytest.mark.slow]

PASSWORD = "correct-horse-42"
LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "legacy_locustfile.py"
RECREATED_LOCUSTFILE = LOCUSTFILE.with_name("legacy_locustfile_recreated.py")
QUICK_START_HOSTS = ",".join(quick_start_allowed_hosts())


def old_style_url(stack) -> str:
    """The older clients' address for the server: 0.0.0.0 and the port."""
    return f"http://0.0.0.0:{stack.config.web_port}"


SUMMARY_COLUMNS = ("Request Count", "Failure Count", "Median Response Time", "95%", "Requests/s")


def old_ui_login(url: str, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{url}/login",
        headers=OLD_LOGIN_HEADERS,
        data=old_login_form(username, password),
        timeout=10,
    )


def old_ui_predict(url: str, token: str, file_tuple: tuple) -> requests.Response:
    return requests.post(
        f"{url}/model/predict",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": file_tuple},
        timeout=90,
    )


def old_ui_send_feedback(url: str, token: str, **data) -> requests.Response:
    return requests.post(
        f"{url}/feedback/",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        json=data,
        timeout=10,
    )


#: PREDICT_WAIT_SECONDS: the longest a prediction can take to answer
PREDICT_WAIT = 60


def stack_with_a_worker(shared_stack):
    """The quick start's hosts, a model worker, and waits as long as the old clients', for
    this module's tests, which all need an answer: one worker start for all of them."""
    return shared_stack(
        workers=1, PREDICT_WAIT_SECONDS=str(PREDICT_WAIT), ALLOWED_HOSTS=QUICK_START_HOSTS
    )


def test_old_ui_registers_logs_in_predicts_and_sends_feedback(shared_stack, transactional_db):
    stack = stack_with_a_worker(shared_stack)
    url = old_style_url(stack)
    registered = requests.post(
        f"{url}/user/",
        json={"name": "Old Client", "email": "old@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text

    login = old_ui_login(url, "old@example.com", PASSWORD)
    assert login.status_code == 200, login.text
    assert login.json()["token_type"] == "bearer"
    token = login.json()["access_token"]

    cat = photo_bytes("chelsea")
    untyped = old_ui_predict(url, token, ("cat.jpg", cat))  # no content type
    assert untyped.status_code == 200, untyped.text
    body = untyped.json()
    assert body["success"] is True
    assert body["prediction"]
    assert body["score"] == round(body["score"], 4)
    assert body["image_file_name"] == f"{hashlib.sha256(cat).hexdigest()}.jpg"

    crop = distinct_photo(7)
    typed = old_ui_predict(url, token, ("crop.jpeg", crop, "image/jpeg"))
    assert typed.status_code == 200, typed.text
    assert typed.json()["image_file_name"] == f"{hashlib.sha256(crop).hexdigest()}.jpeg"

    text = old_ui_predict(url, token, ("notes.txt", b"not a picture", "text/plain"))
    assert text.status_code == 400
    assert text.json() == {"detail": "File type is not supported."}

    sent = old_ui_send_feedback(
        url,
        token,
        feedback="That is a cat",
        score=body["score"],
        predicted_class=body["prediction"],
        image_file_name=body["image_file_name"],
    )
    assert sent.status_code == 201, sent.text
    stored = Feedback.objects.get()
    assert stored.prediction == Prediction.objects.get(image_sha256=hashlib.sha256(cat).hexdigest())

    listed = requests.get(
        f"{url}/feedback/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert listed.status_code == 200
    assert [entry["feedback"] for entry in listed.json()] == ["That is a cat"]
    assert requests.get(f"{url}/", timeout=10).status_code == 200


def warm_up_the_model(stack, user) -> None:
    """One prediction (of another photo) before a load run, so its first seconds do not
    measure the worker building its model."""
    token = old_ui_login(old_style_url(stack), user.email, PASSWORD).json()["access_token"]
    answer = old_ui_predict(old_style_url(stack), token, ("warm-up.jpg", distinct_photo(11)))
    assert answer.status_code == 200, answer.text


def stats_by_name(stats_csv: Path) -> dict[str, dict]:
    """Locust's `<prefix>_stats.csv`, one row per request name plus `Aggregated`."""
    with stats_csv.open(newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def run_locust_headless(
    shared_stack, user, locustfile: Path, prefix: Path, *, users: int, seconds: int
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """A warmed-up server, then `locustfile` headless against it as `user` with CSV output;
    the run and its statistics by request name."""
    wait = PREDICT_WAIT
    stack = stack_with_a_worker(shared_stack)
    warm_up_the_model(stack, user)
    command = [
        sys.executable, "-m", "locust",
        "-f", str(locustfile),
        "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
        # A task under way when the time is up finishes (and is counted), however slow the
        # busy host makes its prediction: Locust kills what is still running after this.
        "--stop-timeout", str(wait + 30),
        "--host", old_style_url(stack),
        "--csv", str(prefix),
        "--loglevel", "WARNING",
    ]  # fmt: skip
    run = subprocess.run(
        command,
        cwd=LOCUSTFILE.parents[1],  # `python -m locust` makes the project importable from here
        env={**stack.env, "LEGACY_API_EMAIL": user.email, "LEGACY_API_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=seconds + wait + 155,
    )
    rows = stats_by_name(Path(f"{prefix}_stats.csv"))
    print({column: rows["Aggregated"][column] for column in SUMMARY_COLUMNS})  # with pytest -s
    return run, rows


def test_legacy_locustfile_runs_headless_without_failures(
    shared_stack, transactional_db, user, tmp_path
):
    run, rows = run_locust_headless(
        shared_stack, user, LOCUSTFILE, tmp_path / "legacy", users=5, seconds=15
    )
    total = rows["Aggregated"]
    assert int(total["Failure Count"]) == 0, run.stderr[-3000:]
    assert int(total["Request Count"]) > 0
    assert int(rows["/login"]["Request Count"]) == 5
    assert int(rows["/model/predict"]["Request Count"]) > 0
    assert int(rows["/"]["Request Count"]) > 0
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_recreated_first_locustfile_logging_in_on_every_task_has_no_failures(
    shared_stack, transactional_db, user, tmp_path
):
    """10 users, between(1, 3) s waits, a login before every prediction, for 25 s: far over
    THROTTLE_LOGIN (10/min per address), which counts failed logins only (accounts.login_guard)."""
    prefix = tmp_path / "recreated"
    run, rows = run_locust_headless(
        shared_stack, user, RECREATED_LOCUSTFILE, prefix, users=10, seconds=25
    )
    failures = Path(f"{prefix}_failures.csv").read_text()
    assert int(rows["Aggregated"]["Failure Count"]) == 0, failures[-3000:]
    logins, predictions = (
        int(rows[name]["Request Count"]) for name in ("/login", "/model/predict")
    )
    # One login per prediction: only failed logins are limited (accounts.login_guard).
    assert logins == predictions > 10
    assert int(rows["/"]["Request Count"]) > 0
    assert run.returncode == 0, run.stderr[-3000:]
