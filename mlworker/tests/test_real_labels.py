"""The offline pretrained model answers real photos correctly, end to end over HTTP."""

import pytest

from testing.live_stack import live_auth_headers, live_upload
from testing.photos import photo_bytes

pytestmark = [pytest.mark.slow]

CAT_LABELS = {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"}
CUP_LABELS = {"espresso", "cup", "coffee_mug", "eggnog"}


def test_photos_come_back_with_the_right_kind_of_label(live_stack, user):
    stack = live_stack(workers=1, CLASSIFIER_MODEL="efficientnet_lite0")
    headers = live_auth_headers(stack, user)
    answers = {}
    for name in ("chelsea", "coffee"):
        response = live_upload(stack, headers, photo_bytes(name), f"{name}.jpg", timeout=90)
        assert response.status_code == 201, response.text
        answers[name] = response.json()
    assert answers["chelsea"]["label"] in CAT_LABELS
    assert answers["coffee"]["label"] in CUP_LABELS
    assert {a["model_name"] for a in answers.values()} == {"efficientnet_lite0"}
