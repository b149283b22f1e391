"""The offline pretrained model answers real photos correctly, end to end over HTTP."""

import pytest
import requests

from conftest import photo_bytes

pytestmark = [pytest.mark.slow]

CAT_LABELS = {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"}
CUP_LABELS = {"espresso", "cup", "coffee_mug", "eggnog"}


def test_photos_come_back_with_the_right_kind_of_label(live_stack, user):
    stack = live_stack(workers=1, CLASSIFIER_MODEL="efficientnet_lite0")
    token = requests.post(
        f"{stack.url}/api/auth/token/",
        json={"email": user.email, "password": "correct-horse-42"},
        timeout=10,
    ).json()["access"]
    headers = {"Authorization": f"Bearer {token}"}
    answers = {}
    for name in ("chelsea", "coffee"):
        response = requests.post(
            f"{stack.url}/api/predictions/",
            headers=headers,
            files={"image": (f"{name}.jpg", photo_bytes(name))},
            timeout=90,
        )
        assert response.status_code == 201, response.text
        answers[name] = response.json()
    assert answers["chelsea"]["label"] in CAT_LABELS
    assert answers["coffee"]["label"] in CUP_LABELS
    assert {a["model_name"] for a in answers.values()} == {"efficientnet_lite0"}
