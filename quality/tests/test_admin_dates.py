"""The admin's date drill-down past the calendar's end shows an empty list, never a 500."""

from __future__ import annotations

import pytest
from django.utils import timezone

from classifier.tests.page_helpers import make_prediction
from feedback.models import Feedback
from quality.tests.fixtures import review

pytestmark = pytest.mark.django_db

LISTS = [
    ("/admin/classifier/prediction/", "created_at"),
    ("/admin/quality/datasetexport/", "created_at"),
    ("/admin/quality/reviewedlabel/", "reviewed_at"),
    ("/admin/feedback/feedback/", "updated_at"),
]
BEYOND = ["year=9999", "year=9999&{f}__month=12", "year=9999&{f}__month=12&{f}__day=31"]


@pytest.fixture
def one_of_each(user):
    prediction = make_prediction(user)
    Feedback.objects.create(user=user, prediction=prediction, is_correct=True)
    review(prediction, "tabby")
    return prediction


@pytest.mark.parametrize("path, field", LISTS, ids=[path.split("/")[3] for path, _ in LISTS])
def test_a_drill_down_past_the_calendar_is_an_empty_list(
    client, make_user, one_of_each, path, field
):
    admin_client = client
    client.force_login(make_user(email="boss@example.com", is_staff=True, is_superuser=True))
    this_year = admin_client.get(f"{path}?{field}__year={timezone.now().year}")
    assert this_year.status_code == 200
    assert this_year.context["cl"].result_count == 1
    for beyond in BEYOND:
        response = admin_client.get(f"{path}?{field}__" + beyond.format(f=field))
        assert response.status_code == 200, (beyond, response.status_code)
        assert response.context["cl"].result_count == 0
    assert admin_client.get(f"{path}?{field}__year=1").context["cl"].result_count == 0
