"""The review flow in headless Chromium against a real gunicorn: a user says the answer is
wrong, the prediction shows in the staff review queue, a reviewer sets the label, and the
dashboard counts it as reviewed."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from classifier.tests.page_helpers import make_prediction
from classifier.tests.test_browser import log_in, outside_playwright
from classifier.tests.test_browser import open_page as open_page  # the shared fixture
from quality.models import ReviewedLabel
from testing.chromium import CHROMIUM_PATH

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM_PATH.exists(), reason=f"needs chromium at {CHROMIUM_PATH}"),
]


def test_user_says_wrong_then_staff_sets_the_label_and_it_counts_as_reviewed(
    shared_stack, transactional_db, open_page, make_user
):
    alice = make_user(email="alice@example.com")
    prediction = make_prediction(alice)  # tiger_cat, 62 %
    reviewer = make_user(email="rita@example.com", name="Rita", is_staff=True)
    # Photos come through the owner-checked image view: staff see them with the
    # classifier's own permission to view predictions.
    reviewer.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_dashboard", "review_predictions", "view_prediction"]
        )
    )
    stack = shared_stack()  # answered already: no model needed

    # The owner says the answer is wrong.
    page = open_page(stack)
    page.goto("/accounts/login/")
    log_in(page, "alice@example.com", "correct-horse-42")
    expect(page.get_by_role("navigation", name="Main").get_by_text("Quality")).to_have_count(0)
    page.goto(f"/predictions/{prediction.pk}/")
    page.get_by_label("No, it is wrong").check()
    page.get_by_label("What is it really?").fill("lynx")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_text("Thanks — your feedback was saved.")).to_be_visible()
    assert page.goto("/quality/review/").status == 404, "not for ordinary users"

    # The reviewer finds it from the nav, through the dashboard.
    staff = open_page(stack)
    staff.goto("/accounts/login/")
    log_in(staff, "rita@example.com", "correct-horse-42")
    staff.get_by_role("navigation", name="Main").get_by_role("link", name="Quality").click()
    expect(staff.get_by_role("heading", name="Model quality")).to_be_visible()
    row = staff.locator("#models tr[data-model='resnet50']")
    expect(row.locator("td.accuracy")).to_contain_text("0.0%")
    expect(row.locator("td.reviewed")).to_have_text("—")
    expect(staff.locator("svg.chart")).to_have_count(3)
    staff.get_by_role("link", name="Review queue").click()

    item = staff.locator(f"#queue li[data-prediction='{prediction.pk}']")
    expect(item).to_be_visible()
    expect(item).to_contain_text("user says wrong")
    expect(item).to_contain_text("“wrong”: lynx")
    thumbnail = item.locator("img.queue-image")
    expect(thumbnail).to_have_js_property("complete", True)
    assert thumbnail.evaluate("img => img.naturalWidth") > 0, "staff with permission see it"
    field = item.get_by_label("Reviewed label")
    expect(field).to_have_value("lynx")  # the user's correction, suggested
    assert field.get_attribute("list") == "imagenet-labels"
    expect(staff.locator("#imagenet-labels option[value='Egyptian cat']")).to_have_count(1)
    field.fill("Egyptian cat")
    item.get_by_role("button", name="Save label").click()
    expect(
        staff.get_by_text("Reviewed: Egyptian cat (1 prediction of this image).")
    ).to_be_visible()
    expect(staff.locator(f"#queue li[data-prediction='{prediction.pk}']")).to_have_count(0)
    expect(staff.locator("#queue-count")).to_have_text("0 predictions to review")

    # The dashboard counts the review (the model said tiger cat: wrong on reviewed labels).
    staff.goto("/quality/")
    row = staff.locator("#models tr[data-model='resnet50']")
    expect(row.locator("td.reviewed")).to_contain_text("0.0%")
    expect(row.locator("td.num").nth(3)).to_have_text("1")

    reviewed = outside_playwright(ReviewedLabel.objects.select_related("reviewer").get)
    assert (reviewed.label, reviewed.reviewer.email) == ("Egyptian_cat", "rita@example.com")
