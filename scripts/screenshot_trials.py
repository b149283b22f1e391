"""`scripts.screenshots --only trials`: the loop closed on scikit-learn's digits, for the
training result and the candidate-versus-live comparison.

Through the running throw-away stack's API: a user uploads 250 digits and corrects each
answer; `train_model` queues a run that `rqworker training --burst` trains; once the model
worker has validated the new version it runs in shadow on half the uploads (60 held-out
digits; the admin reviews the first 30 from the queue), then as a canary for half of six
users, who say right or wrong. Then Chromium photographs the run's admin page, the review
queue and the dashboard's comparison.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

USERS_PASSWORD = "digit-trial-passphrase-7"
TRAINED, SHADOWED, CANARY = slice(0, 250), slice(1000, 1060), slice(1100, 1196)
TIMEOUT = 1200


def token(url: str, email: str, password: str) -> dict:
    response = requests.post(
        f"{url}/api/auth/token/", json={"email": email, "password": password}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access']}"}


def upload_and_wait(url: str, headers: dict, photos: list[bytes]) -> list[dict]:
    def one(content: bytes) -> str:
        response = requests.post(
            f"{url}/api/predictions/",
            headers=headers,
            files={"image": ("digit.png", content)},
            timeout=120,
        )
        response.raise_for_status()
        return response.json()["id"]

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(one, photos))
    deadline = time.monotonic() + TIMEOUT
    answers: list[dict] = []
    for pk in ids:
        while True:
            answer = requests.get(f"{url}/api/predictions/{pk}/", headers=headers, timeout=30)
            if answer.json()["status"] in ("done", "failed"):
                answers.append(answer.json())
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"prediction {pk} not answered in time")
            time.sleep(0.5)
    return answers


def say(url: str, headers: dict, answers: list[dict], digits) -> None:
    for answer, digit in zip(answers, digits, strict=True):
        right = answer["label"] == str(digit)
        body = {"prediction": answer["id"], "is_correct": right}
        if not right:
            body["correct_label"] = str(digit)
        requests.post(f"{url}/api/feedback/", headers=headers, json=body, timeout=30)


def wait_for_ready(manage_output) -> None:
    deadline = time.monotonic() + TIMEOUT
    while "digits v1" not in manage_output() or " ready " not in _digits_row(manage_output()):
        if time.monotonic() > deadline:
            raise SystemExit("the trained version was not validated in time")
        time.sleep(2)


def _digits_row(listing: str) -> str:
    return next((line for line in listing.splitlines() if "digits v1" in line), "")


def shot(tour, page, name: str, *, full_page: bool = True) -> None:
    """A plain screenshot: `Tour.shot` waits for every image to decode, and the lazy images
    of a long review queue never do."""
    path = tour.out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    print(f"  wrote {path}")


def tour(tour, stack, base_dir, admin: dict, demo: dict) -> None:
    from training.digits import CLASSES, digit_photos

    def run(*command: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=base_dir,
            env=stack.env,  # the stack's Redis too
            check=True,
            timeout=TIMEOUT,
            capture_output=True,
            text=True,
        ).stdout

    url = stack.url
    photos, digits = digit_photos()
    emails = [f"user{n}@example.com" for n in range(1, 7)]
    run(
        "shell",
        "-c",
        "from accounts.models import User\n"
        f"for email in {[demo['email'], *emails]!r}:\n"
        f"    User.objects.create_user(email=email, password={USERS_PASSWORD!r}, "
        "name=email.split('@')[0])",
    )
    print("Starting the model worker and uploading 250 digits …")
    stack.add_worker()
    stack.config.workers = 1
    headers = token(url, demo["email"], USERS_PASSWORD)
    say(url, headers, upload_and_wait(url, headers, photos[TRAINED]), digits[TRAINED])
    print("Training …")
    run(
        "train_model", "--base", "efficientnet_lite0:1", "--labels", "new",
        "--classes", ",".join(CLASSES), "--name", "digits", "--no-wait",
    )  # fmt: skip
    run("rqworker", "training", "--burst")
    wait_for_ready(lambda: run("list_models"))
    run("trial_model", "digits", "1", "--shadow", "50")
    print("Shadow …")
    shadowed = upload_and_wait(url, headers, photos[SHADOWED])
    truth = {a["id"]: str(d) for a, d in zip(shadowed, digits[SHADOWED], strict=True)}

    page = tour.new_page({"width": 1280, "height": 900})
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(admin["email"])
    page.get_by_label("Password").fill(admin["password"])
    page.get_by_role("button", name="Log in").click()
    page.goto("/quality/review/?reason=disagree")
    page.locator("#queue").wait_for()
    shot(tour, page, "review-queue-shadow", full_page=False)
    for _ in range(30):  # review from the top of the queue, as a reviewer would
        page.goto("/quality/review/?reason=disagree")
        item = page.locator("#queue li.queue-item").first
        if not item.count():
            break
        pk = item.get_attribute("data-prediction")
        item.locator("input[name=label]").fill(truth.get(pk, "0"))
        item.get_by_role("button", name="Save label").click()
        page.wait_for_load_state()

    print("Canary …")
    run("trial_model", "digits", "1", "--canary", "50")
    time.sleep(2)  # MODEL_LIVE_CHECK_SECONDS (1 s): every process sees the canary
    per_user = 16
    for n, email in enumerate(emails[:6]):
        own = slice(CANARY.start + n * per_user, CANARY.start + (n + 1) * per_user)
        user_headers = token(url, email, USERS_PASSWORD)
        say(url, user_headers, upload_and_wait(url, user_headers, photos[own]), digits[own])

    page.goto("/admin/training/trainingrun/")
    page.locator("#result_list tbody a").first.click()
    page.get_by_text("Confusion matrix").first.wait_for()
    shot(tour, page, "training-result")
    page.goto("/quality/")
    page.locator("#trials").wait_for()
    page.locator("#trials").scroll_into_view_if_needed()
    page.locator("#trials").screenshot(path=str(tour.out / "quality-trials.png"))
    print(f"  wrote {tour.out / 'quality-trials.png'}")
    phone = tour.new_page({"width": 375, "height": 812})
    phone.context.add_cookies(page.context.cookies())
    phone.goto("/quality/")
    phone.locator("#trials").wait_for()
    phone.locator("#trials").screenshot(path=str(tour.out / "quality-trials-phone.png"))
    print(f"  wrote {tour.out / 'quality-trials-phone.png'}")
    phone.goto("/quality/review/")
    phone.locator("#queue").wait_for()
    shot(tour, phone, "review-queue-phone", full_page=False)
    phone.context.close()
    page.context.close()
