"""The site's one label format and one percent format, in each language it speaks."""

import pytest
from django.utils import translation

from classifier.labels import display_label
from classifier.presentation import format_percent
from classifier.tests.page_helpers import make_prediction

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "fraction", "expected"),
    [
        ("en", 0.6213, "62.1%"),
        ("en", 0.0004, "<0.1%"),
        ("en", 1.0, "100.0%"),
        ("es", 0.6213, "62,1\u00a0%"),  # CLDR: decimal comma, a no-break space before %
        ("es", 0.0004, "<0,1\u00a0%"),
    ],
)
def test_percent_is_written_the_languages_way(language, fraction, expected):
    with translation.override(language):
        assert format_percent(fraction) == expected
        assert format_percent(None, empty="—") == "—"


def test_labels_read_with_spaces():
    assert display_label("great_white_shark") == "great white shark"
    assert display_label("Egyptian_cat") == "Egyptian cat"


def test_result_page_in_spanish_writes_percentages_the_spanish_way(client, user):
    prediction = make_prediction(user)
    client.force_login(user)
    html = client.get(f"/predictions/{prediction.pk}/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<span class="bar-value">62,1\u00a0%</span>' in html
    assert "62.1%" not in html
