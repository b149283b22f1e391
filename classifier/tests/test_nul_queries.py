"""A NUL character in a query string is a 400, never a 500 (PostgreSQL text cannot hold it).

Was: the admin filters `?predicted_label=%00` and `?status=%00` answered 500 on PostgreSQL.
"""

from __future__ import annotations

import pytest

from classifier.tests.reliability_doc import check_section
from testing.clients import jwt_client

pytestmark = pytest.mark.django_db

CASES = [
    ("admin-filter-status", "/admin/classifier/prediction/?status=%00", "superuser"),
    ("admin-filter-label", "/admin/feedback/feedback/?predicted_label=%00", "superuser"),
    ("admin-search", "/admin/accounts/user/?q=a%00b", "superuser"),
    ("admin-filter-key", "/admin/classifier/prediction/?st%00atus=done", "superuser"),
    ("api-query", "/api/predictions/?page=%00", "jwt"),
    ("page-query", "/predictions/?page=1%00", "session"),
]


@pytest.mark.parametrize("case, path, who", CASES, ids=[case[0] for case in CASES])
def test_a_nul_in_the_query_is_a_400(case, path, who, admin_client, user, client):
    if who == "superuser":
        response = admin_client.get(path)
    elif who == "jwt":
        response = jwt_client(user).get(path)
    else:
        client.force_login(user)
        response = client.get(path)
    assert response.status_code == 400, response.content[:200]
    if who == "jwt":
        assert response.json()["detail"] == "The address contains a NUL character."
    else:
        assert "NUL character" in response.content.decode()


def test_reliability_doc_lists_every_nul_case():
    rows = [
        (f"nul-{case}", f"GET {path} ({who})", "400 with a message (JSON detail on the API); "
         "was 500 on PostgreSQL for the admin filters")
        for case, path, who in CASES
    ]  # fmt: skip
    check_section("nul-queries", rows)
