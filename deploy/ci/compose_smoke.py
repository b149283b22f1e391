"""What a user does with the compose stack, through nginx (run by deploy/ci/compose-smoke.sh).

A browser (a requests session with its cookie jar, sending the Origin header a browser
sends) logs in through the HTML form and uploads a photo with the form's CSRF token; an API
client gets a JWT, uploads (201 with real labels) and gives feedback; an operator logs in
to /admin/; Prometheus reads /metrics with its token; /api/health/ reports the object store
`ok`. The trainer trains a tiny run started with the web's `train_model` (smoke_training.py).
Then the worker's main process is killed with SIGKILL by its host PID, as a crash would be:
the restart policy brings it back and an upload queued meanwhile finishes.

Every request and wait is bounded; the first failed check ends the run with a message.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import requests
from smoke_client import (
    TIMEOUT,
    Containers,
    Site,
    SmokeFailure,
    api_headers,
    check,
    ok,
    photo,
    read_env_file,
)
from smoke_training import check_training

CAT_LABELS = {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat", "lynx"}


def check_health(site: Site, *, bucket_made: bool) -> None:
    """Healthy before the first upload too: the images' bucket does not exist yet (the first
    write makes it), and a store that answers for a missing bucket is reachable."""
    answer = requests.get(f"{site.url}/api/health/", timeout=TIMEOUT)
    body = answer.json()
    check(body["database"] is True and body["redis"] is True, f"/api/health/: {body}")
    check(body["live_workers"] >= 1, f"no live worker: {body}")
    check(answer.status_code == 200, f"/api/health/ {answer.status_code}: {body}")
    check(body["object_store"] == "ok", f"object store: {body}")
    when = "after the uploads" if bucket_made else "before any upload"
    ok(f"/api/health/ 200 {when}, object store ok, {body['live_workers']} live worker(s)")


def top5(prediction: dict) -> str:
    return ", ".join(f"{entry['label']} {entry['score']:.3f}" for entry in prediction["top5"])


def check_browser(site: Site, email: str, password: str) -> None:
    browser = requests.Session()
    login = site.browser_post(
        browser, "/accounts/login/", {"username": email, "password": password}
    )
    check(login.status_code == 302, f"form login: {login.status_code} {login.text[:300]}")
    ok("browser: logged in through the form (CSRF token, Origin with the published port)")
    upload = site.browser_post(
        browser, "/", {}, files={"image": ("coffee.jpg", photo("coffee"), "image/jpeg")}
    )
    check(upload.status_code == 302, f"form upload: {upload.status_code} {upload.text[:300]}")
    detail = upload.headers["Location"]
    check("/predictions/" in detail, f"form upload went to {detail}")
    page = browser.get(site.url + detail if detail.startswith("/") else detail, timeout=TIMEOUT)
    check(page.status_code == 200, f"result page: {page.status_code}")
    ok(f"browser: uploaded through the form, result page {detail}")
    # What the model said about it, through the API (for the log).
    headers = api_headers(site, email, password)
    identifier = detail.rstrip("/").rsplit("/", 1)[-1]
    answer = requests.get(
        f"{site.url}/api/predictions/{identifier}/",
        params={"wait": 30},
        headers=headers,
        timeout=TIMEOUT,
    )
    check(answer.status_code == 200, f"GET the form's prediction: {answer.status_code}")
    prediction = answer.json()
    ok(f"browser: the form's photo ({prediction['status']}): {top5(prediction)}")


def check_api(site: Site, email: str, password: str) -> None:
    headers = api_headers(site, email, password)
    answer = requests.post(
        f"{site.url}/api/predictions/",
        headers=headers,
        files={"image": ("chelsea.jpg", photo("chelsea"), "image/jpeg")},
        timeout=TIMEOUT,
    )
    check(answer.status_code == 201, f"API upload: {answer.status_code} {answer.text[:500]}")
    prediction = answer.json()
    labels = {entry["label"] for entry in prediction["top5"]}
    check(prediction["status"] == "done" and len(labels) == 5, f"prediction: {prediction}")
    check(
        bool(labels & CAT_LABELS),
        f"a cat photo, labelled {top5(prediction)} by {prediction['model_name']}"
        f" (cached: {prediction['cached']}, run {prediction['run_seconds']} s)",
    )
    check(prediction["url"].startswith(site.url + "/"), f"url {prediction['url']}")
    ok(f"API: upload 201 by {prediction['model_name']}: {top5(prediction)}; url keeps the port")
    feedback = requests.post(
        f"{site.url}/api/feedback/",
        headers=headers,
        json={"prediction": prediction["id"], "is_correct": True},
        timeout=TIMEOUT,
    )
    check(feedback.status_code == 201, f"feedback: {feedback.status_code} {feedback.text[:300]}")
    ok("API: feedback 201")


def check_admin(site: Site, email: str, password: str) -> None:
    operator = requests.Session()
    login = site.browser_post(
        operator, "/admin/login/?next=/admin/", {"username": email, "password": password}
    )
    check(login.status_code == 302, f"admin login: {login.status_code}")
    index = operator.get(f"{site.url}/admin/", timeout=TIMEOUT)
    check(index.status_code == 200 and "/admin/logout/" in index.text, "admin index")
    ok("admin: logged in at /admin/")


def check_metrics(site: Site, token: str) -> None:
    refused = requests.get(f"{site.url}/metrics", timeout=TIMEOUT)
    check(refused.status_code in (401, 403), f"/metrics without token: {refused.status_code}")
    answer = requests.get(
        f"{site.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    check(answer.status_code == 200, f"/metrics: {answer.status_code}")
    check("# TYPE" in answer.text, "/metrics is not Prometheus text")
    ok(f"/metrics: 200 with the token ({len(answer.text.splitlines())} lines), refused without")


# --- the crash -----------------------------------------------------------------------------
class Worker(Containers):
    def main_process(self, container: str) -> int:
        """The host PID of `manage.py run_model_worker`: the container's init or below it."""
        pending = [int(self.inspect(container, "{{.State.Pid}}"))]
        while pending:
            pid = pending.pop(0)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"run_model_worker" in cmdline and any(b"manage.py" in a for a in cmdline):
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        raise SmokeFailure("no manage.py run_model_worker process in the worker container")


def check_worker_crash(site: Site, email: str, password: str, docker: str, project: str) -> None:
    headers = api_headers(site, email, password)
    worker = Worker(docker, project)
    container = worker.container()
    restarts = int(worker.inspect(container, "{{.RestartCount}}"))
    pid = worker.main_process(container)
    os.kill(pid, signal.SIGKILL)
    ok(f"worker: killed run_model_worker (host PID {pid}) with SIGKILL")
    # Queued while the worker is down: a photo the result cache has never seen.
    answer = requests.post(
        f"{site.url}/api/predictions/",
        headers=headers,
        files={"image": ("crop.jpg", photo("chelsea", crop_seed=int(time.time())), "image/jpeg")},
        timeout=TIMEOUT,
    )
    check(answer.status_code in (201, 202), f"upload during the crash: {answer.status_code}")
    deadline = time.monotonic() + 300
    while True:
        state = worker.inspect(container, "{{.RestartCount}} {{.State.Running}}")
        if int(state.split()[0]) > restarts and state.endswith("true"):
            break
        check(time.monotonic() < deadline, f"worker not restarted within 300 s: {state}")
        time.sleep(2)
    ok(f"worker: restarted by its restart policy (restart count {restarts} -> {state.split()[0]})")
    prediction = site.wait_until_finished(headers, answer.json(), seconds=600)
    check(prediction["status"] == "done", f"queued upload ended {prediction}")
    ok(f"worker: the upload queued during the crash finished: {top5(prediction)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--docker", default="docker")
    args = parser.parse_args()
    env = read_env_file(args.env_file)
    site = Site(args.url)
    email, password = env["ADMIN_EMAIL"], env["ADMIN_PASSWORD"]
    checks = [
        lambda: check_health(site, bucket_made=False),
        lambda: check_browser(site, email, password),
        lambda: check_api(site, email, password),
        lambda: check_admin(site, email, password),
        lambda: check_metrics(site, env["METRICS_TOKEN"]),
        lambda: check_training(site, email, password, args.docker, args.project),
        lambda: check_worker_crash(site, email, password, args.docker, args.project),
        lambda: check_health(site, bucket_made=True),
    ]
    failures = 0
    for run_check in checks:  # each one, so a failure report shows everything that broke
        try:
            run_check()
        except (SmokeFailure, requests.RequestException, KeyError, ValueError) as failure:
            failures += 1
            print(f"compose-smoke: FAILED  {failure!r}", file=sys.stderr, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
