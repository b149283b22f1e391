"""Save screenshots of the main pages into docs/screenshots/.

    .venv/bin/python -m scripts.screenshots                   # EfficientNet-Lite0 (pretrained)
    .venv/bin/python -m scripts.screenshots --model resnet50  # random weights unless
                                                              # RESNET50_WEIGHTS says otherwise
    .venv/bin/python -m scripts.screenshots --only quality    # the staff quality pages only
    .venv/bin/python -m scripts.screenshots --only trials     # digits: training, shadow, canary

Starts a throw-away system with `ops.stack.Stack`, as the tests and `run_stack` do:
an embedded PostgreSQL database and a media folder in a temporary directory, an embedded
Redis (unless --redis-url), gunicorn and one model worker. Then it drives headless
Chromium through the site like a person: registers a demo user, uploads a few
scikit-image / scikit-learn photos, gives feedback, and photographs the welcome, upload,
result (pending, done, phone-sized), history and the admin's prediction and feedback
lists. Everything it started is stopped at the end; nothing outside the temporary directory
and the output folder is touched (run by root, the database's account: see
ops/embedded_postgres.py).

EfficientNet-Lite0 is the default model because its pretrained weights ship in a package:
the labels on the screenshots are real answers, computed offline.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

from ops.stack import Stack, StackConfig, free_port  # noqa: E402
from testing.chromium import CHROMIUM_ARGS, CHROMIUM_PATH  # noqa: E402

DEMO = {"email": "dana@example.com", "name": "Dana", "password": "violet-lantern-93"}
ADMIN = {"email": "admin@example.com", "password": "admin-screenshots-1"}
# (photo, file name, what it really is or None for no feedback). Feedback says "right" when
# the model's best guess is that label, else "wrong" and names it. The first photo is
# uploaded before any worker runs, to show the pending page; its result page is shown.
FIRST = ("chelsea", "chelsea.jpg", "tabby")
MORE = [
    ("coffee", "coffee.jpg", "espresso"),
    ("astronaut", "astronaut.jpg", None),
    ("rocket", "launch.jpg", "rocket"),  # names no ImageNet class: kept as the user's words
    ("china", "temple.jpg", "palace"),
]
# --only quality: more photos and a second user, so the dashboard and the review queue have
# corrections, a confusion and a conflict (the same bytes judged differently) to show.
QUALITY_PHOTOS = [
    ("chelsea", "chelsea.jpg", "tabby"),
    ("cat", "cat.jpg", "tabby"),
    ("coffee", "coffee.jpg", "espresso"),
    ("china", "temple.jpg", "palace"),
    ("flower", "flower.jpg", "daisy"),
    ("rocket", "launch.jpg", "space shuttle"),
    ("astronaut", "astronaut.jpg", "space shuttle"),
]
SECOND = {"email": "sam@example.com", "name": "Sam", "password": "amber-harbour-58"}
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
CLASSIFY_TIMEOUT_MS = 240_000  # the first answer waits for the worker to load the model
STEP_TIMEOUT_MS = 20_000


def photo(name: str) -> bytes:
    """A real photo from scikit-image or scikit-learn, as JPEG bytes."""
    import numpy as np
    from PIL import Image

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        pixels = getattr(data, name)()
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels)).convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def stack_env(work: Path, args) -> dict[str, str]:
    env = {
        "DEBUG": "1",
        "DATABASE_URL": "",  # empty: the Stack starts an embedded PostgreSQL
        "MEDIA_ROOT": str(work / "media"),
        "REDIS_URL": args.redis_url or "",  # empty: the Stack starts an embedded Redis
        "CLASSIFIER_MODEL": args.model,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "ADMIN_EMAIL": ADMIN["email"],
        "ADMIN_PASSWORD": ADMIN["password"],
    }
    if args.model == "resnet50":
        env["RESNET50_WEIGHTS"] = os.environ.get("RESNET50_WEIGHTS", "random")
    return env


class Tour:
    """Drives the site through Playwright and writes the PNGs."""

    def __init__(self, browser, stack: Stack, out: Path, work: Path, only: set[str] | None = None):
        self.only = only  # shot names to write; None: all
        self.browser = browser
        self.stack = stack
        self.out = out
        self.work = work
        self.page = self.new_page(DESKTOP)

    def new_page(self, viewport):
        context = self.browser.new_context(viewport=viewport, base_url=self.stack.url)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        return context.new_page()

    def shot(self, page, name: str, *, full_page: bool = True) -> None:
        if self.only is not None and name not in self.only:
            return
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => 0)))")
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        print(f"  wrote {path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path}")

    def register(self, person: dict = DEMO) -> None:
        page = self.page
        page.goto("/")
        self.shot(page, "welcome")
        page.get_by_role("link", name="Create a free account").click()
        page.get_by_label("Email").fill(person["email"])
        page.get_by_label("Display name").fill(person["name"])
        page.get_by_label("Password").fill("dana")  # too short, too like the email: refused
        page.get_by_role("button", name="Create account").click()
        page.locator(".has-error").first.wait_for()
        self.shot(page, "register-errors")
        page.get_by_label("Password").fill(person["password"])
        page.get_by_role("button", name="Create account").click()
        # Registering says nothing about whether the address had an account: it leads to
        # the login form, the address filled in.
        page.wait_for_url("**/accounts/login/**")
        page.get_by_label("Password").fill(person["password"])
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Classify a photo").wait_for()

    def upload(self, name: str, filename: str) -> str:
        page = self.page
        path = self.work / filename
        path.write_bytes(photo(name))
        page.goto("/")
        page.locator("#id_image").set_input_files(str(path))
        page.get_by_role("button", name="Classify").click()
        page.wait_for_url("**/predictions/*/")
        return page.url

    def wait_for_answer(self) -> None:
        self.page.locator("#top5 li").nth(4).wait_for(timeout=CLASSIFY_TIMEOUT_MS)

    def feedback(self, truth: str) -> None:
        page = self.page
        if page.locator("#top-label").get_attribute("data-label") == truth:
            page.get_by_label("Yes, it is right").check()
        else:
            page.get_by_label("No, it is wrong").check()
            page.get_by_label("What is it really?").fill(truth)
        page.get_by_role("button", name="Send feedback").click()
        page.locator("#feedback-saved").wait_for()

    def log_out(self) -> None:
        self.page.get_by_role("button", name="Log out").click()
        self.page.wait_for_url("**/accounts/login/")

    def quality_pages(self) -> None:
        """The operator's side: the admin index's links, the dashboard, the review queue."""
        page = self.new_page({"width": 1280, "height": 900})
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(ADMIN["email"])
        page.get_by_label("Password").fill(ADMIN["password"])
        page.get_by_role("button", name="Log in").click()
        page.goto("/admin/")
        page.locator(".app-quality").wait_for()  # the quality pages sit in the app's section
        self.shot(page, "admin-quality-links", full_page=False)
        page.goto("/quality/")
        page.locator("#models").wait_for()
        self.shot(page, "quality-dashboard")
        page.goto("/quality/review/")
        page.locator("#queue").wait_for()
        self.shot(page, "review-queue")
        page.context.close()

    def admin_lists(self) -> None:
        """The operator's prediction and feedback lists, at the 1280 px they are made for."""
        page = self.new_page({"width": 1280, "height": 720})
        page.goto("/admin/")
        page.locator("#id_username").fill(ADMIN["email"])
        page.locator("#id_password").fill(ADMIN["password"])
        page.locator("input[type=submit]").click()
        page.goto("/admin/classifier/prediction/")
        page.locator("#result_list").wait_for()
        self.shot(page, "admin-predictions")
        page.goto("/admin/feedback/feedback/")
        page.locator("#result_list").wait_for()
        self.shot(page, "admin-feedback")
        page.context.close()


QUALITY_SHOTS = {"admin-quality-links", "quality-dashboard", "review-queue"}


def quality_tour(tour: Tour, stack: Stack, args) -> None:
    """Two users classify photos and say what they really are (the second one disagrees
    about the same cat photo), then the operator opens the quality pages."""
    tour.register()
    print(f"Starting the {args.model} worker (loading the model takes a while) …")
    stack.add_worker()
    stack.config.workers = 1
    for name, filename, truth in QUALITY_PHOTOS:
        tour.upload(name, filename)
        tour.wait_for_answer()
        tour.feedback(truth)
    tour.log_out()
    tour.register(SECOND)
    tour.upload("chelsea", "chelsea.jpg")  # the same bytes as Dana's
    tour.wait_for_answer()
    tour.feedback("Egyptian cat")
    tour.quality_pages()


def run(args) -> None:
    from playwright.sync_api import sync_playwright

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    work.chmod(0o711)  # run by root, the embedded PostgreSQL's own account passes through
    env = stack_env(work, args)
    stack = Stack(
        StackConfig(
            web_port=free_port(),
            workers=0,
            web_threads=8,
            env=env,
            log_dir=work / "logs",
            database_dir=work / "postgres",
            prepare=[["migrate", "--noinput", "-v", "0"], ["ensure_superuser"]],
        )
    )
    try:
        print(f"Starting a throw-away database in {work} and the web server …")
        stack.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS
            )
            try:
                if args.only == "trials":
                    from scripts import screenshot_trials

                    trials_tour = Tour(browser, stack, out, work, only=set())
                    screenshot_trials.tour(trials_tour, stack, BASE_DIR, ADMIN, DEMO)
                    return
                if args.only == "quality":
                    quality_tour(Tour(browser, stack, out, work, only=QUALITY_SHOTS), stack, args)
                    return
                tour = Tour(browser, stack, out, work)
                tour.register()
                # No worker yet: the first upload shows the pending state.
                first, first_name, first_truth = FIRST
                first_url = tour.upload(first, first_name)
                tour.page.locator("#pending").wait_for()
                tour.shot(tour.page, "result-pending")
                print(f"Starting the {args.model} worker (loading the model takes a while) …")
                stack.add_worker()
                stack.config.workers = 1
                tour.wait_for_answer()  # the page updates itself
                tour.feedback(first_truth)
                for name, filename, truth in MORE:
                    tour.upload(name, filename)
                    tour.wait_for_answer()
                    if truth is not None:
                        tour.feedback(truth)
                tour.page.goto("/")
                tour.page.locator("#recent").wait_for()
                tour.shot(tour.page, "upload")
                tour.page.goto(first_url)
                tour.shot(tour.page, "result")
                tour.page.goto("/predictions/")
                tour.shot(tour.page, "history")
                phone = tour.new_page(PHONE)
                phone.context.add_cookies(tour.page.context.cookies())
                phone.goto(first_url)
                tour.shot(phone, "result-phone")
                phone.goto("/predictions/")
                tour.shot(phone, "history-phone")
                tour.admin_lists()
            finally:
                browser.close()
    finally:
        print("Stopping …")
        stack.stop()
        if args.keep:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(BASE_DIR / "docs" / "screenshots"))
    parser.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="efficientnet_lite0 (default) or resnet50 (random weights unless "
        "RESNET50_WEIGHTS is set)",
    )
    parser.add_argument("--redis-url", default="", help="use this Redis instead of an embedded one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument(
        "--only",
        choices=["quality", "trials"],
        help="only the staff quality pages (dashboard, queue), or the digits training and "
        "its shadow / canary comparison",
    )
    args = parser.parse_args()
    if not CHROMIUM_PATH.exists():
        raise SystemExit(f"{CHROMIUM_PATH} is missing: apt-get install chromium")
    try:
        run(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
