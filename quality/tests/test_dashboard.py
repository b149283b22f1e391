"""Dashboard figures against the hand-computed fixture in `fixtures.py`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from quality import selectors
from quality.selectors import Period
from quality.stats import Proportion
from quality.tests import fixtures

pytestmark = pytest.mark.django_db


def fixture_period(**kwargs) -> Period:
    return Period(start=fixtures.day(1) - timedelta(days=1), end=timezone.now(), **kwargs)


@pytest.fixture
def data(user):
    return fixtures.build(user)


def test_wilson_interval_matches_hand_computed_values():
    five_of_nine = Proportion.of(5, 9)
    assert five_of_nine.rate == pytest.approx(5 / 9)
    assert five_of_nine.low == pytest.approx(0.2667, abs=5e-4)
    assert five_of_nine.high == pytest.approx(0.8112, abs=5e-4)
    all_right = Proportion.of(10, 10)
    assert all_right.low == pytest.approx(0.7225, abs=5e-5)
    assert all_right.high == pytest.approx(1.0)
    none = Proportion.of(0, 0)
    assert (none.rate, none.low, none.high) == (None, None, None)


def test_per_model_accuracy_interval_top5_and_reviewed(data):
    rows = {row.model_name: row for row in selectors.model_summary(fixture_period())}
    a, b = rows["model-a"], rows["model-b"]
    assert (a.predictions, a.feedback, a.feedback_rate) == (10, 9, 0.9)
    assert (a.accuracy.successes, a.accuracy.total) == (5, 9)
    assert a.accuracy.low == pytest.approx(0.2667, abs=5e-4)
    assert a.accuracy.high == pytest.approx(0.8112, abs=5e-4)
    assert (a.top5.successes, a.top5.total) == (7, 9)  # 5 right + 2 corrected within the top 5
    assert a.other_labels == 1
    assert (a.reviewed_accuracy.successes, a.reviewed_accuracy.total) == (0, 1)
    assert (a.reviewed_top5.successes, a.reviewed_top5.total) == (0, 1)  # lynx is not in it
    assert (b.predictions, b.feedback, b.accuracy.rate) == (2, 1, 1.0)
    assert (b.reviewed_accuracy.successes, b.reviewed_accuracy.total) == (1, 2)


def test_the_period_leaves_out_older_predictions(data):
    day_two_only = Period(start=fixtures.day(2) - timedelta(hours=1), end=timezone.now())
    rows = {row.model_name: row for row in selectors.model_summary(day_two_only)}
    assert rows["model-a"].predictions == 5
    assert (rows["model-a"].accuracy.successes, rows["model-a"].accuracy.total) == (1, 4)


def test_accuracy_per_day_per_model(data):
    points = [
        (p.model_name, p.start.date(), p.accuracy.successes, p.accuracy.total)
        for p in selectors.accuracy_over_time(fixture_period())
    ]
    d1, d2 = fixtures.day(1).date(), fixtures.day(2).date()
    assert points == [("model-a", d1, 4, 5), ("model-a", d2, 1, 4), ("model-b", d2, 1, 1)]
    weekly = selectors.accuracy_over_time(fixture_period(bucket="week", model_name="model-a"))
    assert sum(p.accuracy.total for p in weekly) == 9


def test_per_predicted_label(data):
    rows = [
        (r.label, r.predictions, r.accuracy.successes, r.accuracy.total)
        for r in selectors.per_predicted_label(fixture_period())
    ]
    assert rows == [("tabby", 9, 5, 8), ("goldfish", 3, 1, 2)]


def test_confusions_with_newest_examples_first(data):
    found = selectors.confusions(fixture_period())
    assert [(c.predicted, c.corrected, c.count) for c in found] == [
        ("tabby", "tiger_cat", 2),
        ("tabby", "lynx", 1),
    ]
    assert found[0].examples == [data[6].pk, data[5].pk]
    assert found[1].examples == [data[7].pk]


def test_calibration_buckets(data):
    buckets = [
        (b.low, b.high, round(b.mean_confidence, 4), b.accuracy.successes, b.accuracy.total)
        for b in selectors.calibration(fixture_period())
    ]
    assert buckets == [
        (0.1, 0.2, 0.15, 0, 1),
        (0.5, 0.6, 0.55, 1, 3),
        (0.9, 1.0, 0.95, 5, 6),
    ]


def test_a_score_of_exactly_one_lands_in_the_top_bucket(user):
    fixtures.say(fixtures.make(user, "sure", "tabby", 1.0), True)
    (bucket,) = selectors.calibration(fixture_period())
    assert (bucket.low, bucket.high, bucket.accuracy.total) == (0.9, 1.0, 1)


def test_other_labels_are_reported_apart(data):
    assert selectors.other_labels(fixture_period()) == [
        {"other_label": "my neighbour's cat", "count": 1}
    ]


def test_model_filter_narrows_the_detail_but_not_the_comparison(data):
    figures = selectors.dashboard(fixture_period(model_name="model-b"))
    assert [row.model_name for row in figures.models] == ["model-a", "model-b"]
    assert [(r.label, r.predictions) for r in figures.labels] == [("tabby", 2)]
    assert figures.confusions == []


def test_the_dashboard_is_a_fixed_number_of_queries(data, django_assert_num_queries):
    with django_assert_num_queries(selectors.DASHBOARD_QUERIES):
        selectors.dashboard(fixture_period())
    assert selectors.DASHBOARD_QUERIES == 7


def test_dashboard_page_shows_the_figures_and_charts(client, data, make_user):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    start = (fixtures.day(1) - timedelta(days=1)).date().isoformat()
    response = client.get("/quality/", {"start": start})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<tr data-model="model-a">' in html
    assert "55.6%" in html and "[26.7% – 81.1%]" in html  # the site's one percent format
    assert html.count('<svg class="chart') == 3
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert f'src="/predictions/{data[6].pk}/image/"' in html
    assert "my neighbour&#x27;s cat" in html


def test_dashboard_json_matches_the_page(client, data, make_user):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    start = (fixtures.day(1) - timedelta(days=1)).date().isoformat()
    body = client.get("/api/quality/dashboard/", {"start": start}).json()
    a = next(row for row in body["models"] if row["model_name"] == "model-a")
    assert a["accuracy"]["successes"] == 5 and a["accuracy"]["total"] == 9
    assert a["accuracy"]["low"] == pytest.approx(0.2667, abs=5e-4)
    assert a["top5"]["successes"] == 7
    assert body["confusions"][0]["examples"] == [str(data[6].pk), str(data[5].pk)]
    assert [b["accuracy"]["total"] for b in body["calibration"]] == [1, 3, 6]


def test_bad_dates_are_400_not_500(client, make_user):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/quality/", {"start": "2026-13-40"}).status_code == 400
    response = client.get("/api/quality/dashboard/", {"start": "2026-05-02", "end": "2026-05-01"})
    assert response.status_code == 400
    assert "detail" in response.json()


def test_the_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/quality/dashboard/"]["get"]
    assert operation["operationId"] == "quality_dashboard"
    assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "model", "bucket"}


@pytest.mark.parametrize("when", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("name", ["start", "end"])
def test_dates_at_the_calendars_ends_are_400_not_500(client, make_user, name, when):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/quality/", {name: when})
    assert page.status_code == 400
    assert "Choose a date between 1970-01-01 and 2999-12-31." in page.content.decode()
    response = client.get("/api/quality/dashboard/", {name: when})
    assert response.status_code == 400
    assert response.json()["errors"] == {name: ["Choose a date between 1970-01-01 and 2999-12-31."]}


def test_the_last_and_first_allowed_days_answer(client, make_user):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/api/quality/dashboard/", {"end": "2999-12-31"}).status_code == 200
    assert client.get("/quality/", {"start": "1970-01-01", "end": "1970-01-01"}).status_code == 200


def test_the_api_refuses_a_parameter_given_empty(client, make_user):
    admin = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.get("/api/quality/dashboard/?start=&bucket=week")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["start"]
    assert client.get("/quality/?start=&end=").status_code == 200  # the page's empty form
