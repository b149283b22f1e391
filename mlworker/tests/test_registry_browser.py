"""In headless Chromium: an operator registers their own model in the admin, watches a real
worker validate it and promotes it; a user's upload on the upload page is answered with its
labels, and the feedback form offers them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from classifier.tests.test_browser import (  # noqa: F401 (open_page is a fixture)
    CHROMIUM_PATH,
    FIRST_ANSWER_TIMEOUT_MS,
    log_in,
    open_page,
    operator_in_admin,
    outside_playwright,
)
from mlworker.tests.tiny_models import COLORS, color_model, labels_file, solid_photo
from registry.models import ModelVersion

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM_PATH.exists(), reason="needs Debian's chromium"),
]
VALIDATION_TIMEOUT_MS = 180_000


def test_operator_registers_and_promotes_a_model_in_the_admin_and_uploads_use_its_labels(
    live_stack,
    open_page,  # noqa: F811
    user,
    tmp_path,
):
    model = color_model(tmp_path / "colors.keras")
    labels = labels_file(tmp_path / "labels.txt")
    photo = tmp_path / "red.jpg"
    photo.write_bytes(solid_photo("red"))
    stack = live_stack(workers=1, MODEL_CACHE_DIR=str(tmp_path / "worker-cache"))
    admin = operator_in_admin(stack, open_page)
    admin.goto("/admin/registry/modelversion/add/")

    # A text file renamed .keras: refused in the form, nothing registered.
    admin.locator("#id_name").fill("colors")
    admin.locator("#id_weights_file").set_input_files(
        {"name": "colors.keras", "mimeType": "application/octet-stream", "buffer": b"hello"}
    )
    admin.locator("#id_labels_file").set_input_files(str(labels))
    admin.locator("#id_input_height").fill("32")
    admin.locator("#id_input_width").fill("32")
    admin.locator("#id_preprocessing").select_option("unit")
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".errornote, .errorlist").first).to_be_visible()
    expect(admin.locator("body")).to_contain_text("not a zip archive")

    # The real file: registered, then validated by the worker process.
    admin.locator("#id_weights_file").set_input_files(str(model))
    admin.locator("#id_labels_file").set_input_files(str(labels))
    admin.locator("input[name=_save]").click()
    rows = admin.locator("#result_list tbody tr")
    colors_row = rows.filter(has_text="colors v1")
    expect(colors_row).to_have_count(1)
    version = outside_playwright(ModelVersion.objects.get, name="colors")

    def shows_ready() -> bool:
        admin.reload()
        return "Ready" in colors_row.inner_text()

    for _ in range(VALIDATION_TIMEOUT_MS // 2000):
        if shows_ready():
            break
        admin.wait_for_timeout(2000)
    expect(colors_row).to_contain_text("Ready")

    # Promote: one admin action.
    colors_row.locator("input.action-select").check()
    admin.locator("select[name=action]").select_option("promote")
    admin.locator("button[name=index]").click()
    expect(admin.locator(".messagelist")).to_contain_text("Colors v1 is live.")
    expect(colors_row).to_contain_text("Live")

    # A user's upload on the upload page is answered with the model's labels.
    page = open_page(stack)
    page.goto("/accounts/login/")
    log_in(page, "alice@example.com", "correct-horse-42")
    answered = False
    for _ in range(10):  # the workers switch within MODEL_LIVE_CHECK_SECONDS
        page.goto("/")
        page.locator("#id_image").set_input_files(str(photo))
        page.get_by_role("button", name="Classify").click()
        expect(page).to_have_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
        expect(page.locator("#top-label")).to_be_visible(timeout=FIRST_ANSWER_TIMEOUT_MS)
        if page.locator("#model-name").inner_text().startswith("colors v1"):
            answered = True
            break
        page.wait_for_timeout(1000)
    assert answered, "no upload was answered by colors v1"
    expect(page.locator("#top-label")).to_have_text("red")
    bars = page.locator("#top5 li")
    expect(bars).to_have_count(3)
    assert {bars.nth(i).get_attribute("data-label") for i in range(3)} == set(COLORS)
    options = page.locator("datalist option")
    assert {options.nth(i).get_attribute("value") for i in range(options.count())} == set(COLORS)
    assert outside_playwright(lambda: ModelVersion.objects.get(pk=version.pk).state) == "live"
