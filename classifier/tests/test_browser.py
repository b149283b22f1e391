"""End to end in headless Chromium against real gunicorn and model-worker processes.

The flow a person follows: register, log in, upload a photo, watch the result page fill
itself in when the worker answers, give feedback, find it in the history; and an operator
finding that feedback in the admin. Every wait is a Playwright wait with a timeout.
"""

import base64
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from classifier.labels import IMAGENET_LABELS
from classifier.models import Prediction
from feedback.models import Feedback
from testing.chromium import CHROMIUM_ARGS, CHROMIUM_PATH
from testing.photos import photo_bytes

STEP_TIMEOUT_MS = 15_000
# From "worker process started" to an answer: importing TensorFlow and building ResNet50 on
# a busy 2-core machine, then the first batch.
FIRST_ANSWER_TIMEOUT_MS = 240_000
PERCENT = re.compile(r"^(\d{1,3}\.\d%|<0\.1%)$")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM_PATH.exists(),
        reason=f"needs Debian's chromium at {CHROMIUM_PATH} (apt-get install chromium)",
    ),
]


@pytest.fixture
def open_page(live_stack):
    """`open_page(stack)` gives a fresh browser tab (own cookies) on that stack's site;
    `locale="es-ES"` makes the browser ask for Spanish (Accept-Language).

    Chromium starts on the first call, after the test's database fixtures have run, and
    closes before the servers stop (this fixture depends on `live_stack`). JavaScript
    errors on any page fail the test.
    """
    started = {}
    page_errors = []

    def open_page(stack, locale: str = "en-US"):
        if not started:
            started["playwright"] = sync_playwright().start()
            started["browser"] = started["playwright"].chromium.launch(
                executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, timeout=30_000
            )
        context = started["browser"].new_context(
            base_url=stack.url, viewport={"width": 1280, "height": 900}, locale=locale
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.set_default_navigation_timeout(30_000)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        return page

    yield open_page
    if started:
        started["browser"].close()
        started["playwright"].stop()
    assert page_errors == [], "JavaScript errors on the pages"


def operator_in_admin(stack, open_page):
    """A superuser made for the test, logged in to /admin/ in a new page of its own."""
    outside_playwright(
        get_user_model().objects.create_superuser,
        email="ops@example.com",
        password="ops-password-77",
        name="Ops",
    )
    admin = open_page(stack)
    admin.goto("/admin/")
    admin.locator("#id_username").fill("ops@example.com")
    admin.locator("#id_password").fill("ops-password-77")
    admin.locator("input[type=submit]").click()
    return admin


def outside_playwright(function, *args, **kwargs):
    """Run database code in a short-lived thread and close its connection there.

    Playwright's sync API keeps an asyncio loop running in the test's thread; Django refuses
    ORM calls there, and a connection opened anyway would be left open.
    """

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=60)


def log_in(page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_anonymous_visitor_is_sent_to_login_and_back(
    shared_stack, transactional_db, open_page, user
):
    stack = shared_stack()
    page = open_page(stack)

    page.goto("/predictions/")
    expect(page).to_have_url(f"{stack.url}/accounts/login/?next=/predictions/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    log_in(page, "alice@example.com", "correct-horse-42")
    expect(page).to_have_url(f"{stack.url}/predictions/")
    expect(page.get_by_text("Nothing here yet")).to_be_visible()


def test_register_upload_watch_result_give_feedback_and_admin_sees_it(
    live_stack, open_page, tmp_path
):
    stack = live_stack(workers=0)  # the worker starts once the pending page is on screen
    page = open_page(stack)

    # Register from the welcome page.
    page.goto("/")
    expect(page.get_by_role("heading", name="What is in your photo?")).to_be_visible()
    page.get_by_role("link", name="Create a free account").click()
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Display name").fill("Erin")
    page.get_by_label("Password").fill("violet-lantern-93")
    page.get_by_role("button", name="Create account").click()
    # The login form next, the address filled in (the same page for a taken address).
    expect(page).to_have_url(f"{stack.url}/accounts/login/")
    expect(page.get_by_text("Thanks, Erin. Log in with your email and password")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value("erin@example.com")
    page.get_by_label("Password").fill("violet-lantern-93")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Classify a photo")).to_be_visible()

    # Log out, then log in again.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{stack.url}/accounts/login/")
    log_in(page, "erin@example.com", "violet-lantern-93")
    expect(page.get_by_role("heading", name="Classify a photo")).to_be_visible()
    expect(page.locator("header")).to_contain_text("Erin")

    # A file that claims to be a JPEG but is not: a message, no broken preview, not sent.
    page.locator("#id_image").set_input_files(
        {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"just some text"}
    )
    expect(page.locator("#image-errors")).to_contain_text("That file is not a photo we can read")
    expect(page.locator("#preview")).to_be_hidden()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#image-errors")).to_contain_text("That file is not a photo we can read")
    expect(page).to_have_url(f"{stack.url}/")

    # Choose the real photo: a preview appears.
    photo = tmp_path / "chelsea.jpg"
    photo.write_bytes(photo_bytes("chelsea"))
    page.locator("#id_image").set_input_files(str(photo))
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#drop-hint")).to_have_text("chelsea.jpg")
    expect(page.locator("#image-errors")).to_be_empty()

    # Record the button's state as the form is sent (this listener runs after the page's own).
    page.evaluate(
        """() => document.getElementById("upload-form").addEventListener("submit", () => {
            const button = document.getElementById("classify-button");
            sessionStorage.setItem("button", button.disabled + " " + button.textContent);
        })"""
    )
    page.get_by_role("button", name="Classify").click()
    expect(page).to_have_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    assert page.evaluate("sessionStorage.getItem('button')") == "true Uploading…"

    # No worker yet: the page says so, then fills itself in once a worker answers.
    expect(page.get_by_role("heading", name="Classifying…")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Queued")
    stack.add_worker()
    bars = page.locator("#top5 li")
    expect(bars).to_have_count(5, timeout=FIRST_ANSWER_TIMEOUT_MS)
    expect(page.locator("#model-name")).to_have_text("ResNet-50 (random weights)")
    top = page.locator("#top-label")
    raw_label = top.get_attribute("data-label")
    assert raw_label in IMAGENET_LABELS
    expect(top).to_have_text(raw_label.replace("_", " "))
    for index in range(5):
        assert bars.nth(index).get_attribute("data-label") in IMAGENET_LABELS
        expect(bars.nth(index).locator(".bar-value")).to_have_text(PERCENT)
        expect(bars.nth(index).locator(".bar > span")).to_be_attached()

    # Feedback: "what is it really?" appears only once "No" is chosen.
    real_label = page.get_by_label("What is it really?")
    expect(real_label).to_be_hidden()
    page.get_by_label("No, it is wrong").check()
    expect(real_label).to_be_visible()
    real_label.fill("tabby")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Thanks — your feedback was saved.")).to_be_visible()
    expect(page.locator("#feedback-saved")).to_contain_text("wrong; it is really tabby")

    # The history lists it, with its thumbnail and the feedback.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(raw_label.replace("_", " "))
    expect(rows.first).to_contain_text("ResNet-50 (random weights)")
    expect(rows.first).to_contain_text("✗ Wrong tabby")
    expect(rows.first.locator("img.thumb")).to_have_js_property("complete", True)
    assert rows.first.locator("img.thumb").evaluate("img => img.naturalWidth") > 0
    page.get_by_role("button", name="Log out").click()

    # An operator finds the feedback, with the photo, in the admin.
    admin = operator_in_admin(stack, open_page)
    expect(admin.get_by_role("link", name="Feedback", exact=True).first).to_be_visible()
    admin.goto("/admin/feedback/feedback/")
    rows = admin.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("erin@example.com")
    expect(rows.first).to_contain_text(raw_label.replace("_", " "))
    expect(rows.first).to_contain_text("tabby")
    thumbnail = rows.first.locator("img[src*='/image/']")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") > 0, "staff can see the photo"

    feedback = outside_playwright(Feedback.objects.select_related("user").get)
    assert (feedback.user.email, feedback.is_correct, feedback.correct_label) == (
        "erin@example.com",
        False,
        "tabby",
    )


def test_dropping_a_photo_on_the_upload_area_sends_it(
    shared_stack, transactional_db, open_page, user
):
    stack = shared_stack()
    page = open_page(stack)
    page.goto("/accounts/login/")
    log_in(page, "alice@example.com", "correct-horse-42")
    # The long poll is exercised above; here it would only hold a server thread at shutdown.
    page.route("**/api/predictions/**", lambda route: route.abort())

    zone = page.locator("#drop-zone")
    zone.evaluate(
        """(zone, data) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "coffee.jpg", { type: "image/jpeg" }));
            const options = { dataTransfer: transfer, bubbles: true };
            zone.dispatchEvent(new DragEvent("dragenter", options));
            zone.dispatchEvent(new DragEvent("drop", options));
        }""",
        base64.b64encode(photo_bytes("coffee")).decode(),
    )
    expect(page.locator("#drop-hint")).to_have_text("coffee.jpg")
    expect(page.locator("#preview")).to_be_visible()
    expect(zone).not_to_have_class(re.compile(r"\bdragging\b"))
    assert page.locator("#id_image").evaluate("input => input.files[0].name") == "coffee.jpg"

    page.get_by_role("button", name="Classify").click()
    expect(page).to_have_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("heading", name="Classifying…")).to_be_visible()
    expect(page.locator("figcaption")).to_contain_text("coffee.jpg")


def test_on_a_phone_the_account_page_is_one_tap_away(
    shared_stack, transactional_db, open_page, user
):
    """At 375 px the header keeps the account link (the name): password change and account
    deletion are reachable on a phone."""
    stack = shared_stack()
    page = open_page(stack)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/accounts/login/")
    log_in(page, "alice@example.com", "correct-horse-42")
    account = page.locator("header").get_by_role("link", name="Your account: alice")
    expect(account).to_be_visible()
    box = account.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    account.click()
    expect(page).to_have_url(f"{stack.url}/accounts/account/")
    expect(page.get_by_role("link", name="Change your password")).to_be_visible()
    expect(page.get_by_role("link", name="Delete your account…")).to_be_visible()


def test_admin_lists_fit_at_1280_pixels(shared_stack, transactional_db, open_page):
    """The predictions and feedback lists show every column without scrolling sideways."""
    from classifier.tests.page_helpers import make_prediction
    from feedback.services import give_feedback

    def world():
        owner = get_user_model().objects.create_user(
            email="a.rather.long.address@example.com", password="x", name="Owner"
        )
        prediction = make_prediction(owner, model_name="efficientnet_lite0+openvino-fp32")
        feedback, _ = give_feedback(
            user=owner, prediction=prediction, is_correct=False, correct_label="rocket"
        )
        # The widest date the lists show ("Sept. 30, 2026, 12:59 p.m."), not today's: the
        # columns must fit whatever the clock says.
        widest = datetime(2026, 9, 30, 12, 59, tzinfo=UTC)
        Prediction.objects.filter(pk=prediction.pk).update(created_at=widest)
        Feedback.objects.filter(pk=feedback.pk).update(updated_at=widest)
        get_user_model().objects.create_superuser(
            email="ops@example.com", password="ops-password-77", name="Ops"
        )

    outside_playwright(world)
    stack = shared_stack()
    page = open_page(stack)  # 1280 px wide
    page.goto("/admin/login/")
    page.locator("#id_username").fill("ops@example.com")
    page.locator("#id_password").fill("ops-password-77")
    page.locator("input[type=submit]").click()
    overflows = {}
    for path in ("/admin/classifier/prediction/", "/admin/feedback/feedback/"):
        page.goto(path)
        results = page.locator("#changelist .results")
        expect(results).to_be_visible()
        overflows[path] = results.evaluate("element => element.scrollWidth - element.clientWidth")
    assert all(pixels <= 0 for pixels in overflows.values()), overflows
