"""Every 4xx on an API route is JSON with `detail`, also when Django refuses the request
before DRF sees it (too many fields or files, a disallowed Host, an unknown /api/ URL).

Pages keep Django's HTML answers. Both with DEBUG off (production) and on (the quick
start, where Django would otherwise show its technical page).
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classifier.models import Prediction
from testing.clients import jwt_client

pytestmark = pytest.mark.django_db

# Routes that read form bodies (/feedback/ reads only JSON: a form there is a JSON 415).
API_POSTS = ["/api/predictions/", "/api/auth/token/", "/model/predict", "/user/", "/login"]


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_json_detail(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json", response.content[:300]
    detail = response.json()["detail"]
    for word in words:
        assert word in detail
    return detail


@pytest.mark.parametrize("path", API_POSTS)
def test_too_many_form_fields_is_a_json_400(path, user, debug, settings):
    fields = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = jwt_client(user).post(path, fields, format="multipart")
    assert_json_detail(response, 400, "Too many form fields")
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize("path", API_POSTS)
def test_too_many_files_is_a_json_400(path, user, debug, settings):
    files = {
        f"file{i}": SimpleUploadedFile(f"{i}.jpg", b"x")
        for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    }
    response = jwt_client(user).post(path, files, format="multipart")
    assert_json_detail(response, 400, "Too many files")
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize(
    "path", ["/api/health/", "/api/predictions/", "/user/", "/login", "/feedback/"]
)
def test_a_disallowed_host_is_a_json_400_on_api_routes(path, debug):
    response = Client().get(path, HTTP_HOST="evil.example.com")
    assert_json_detail(response, 400, "Host")


@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/predictions/not-a-uuid/"])
def test_an_unknown_api_url_is_a_json_404(path, user, debug):
    assert_json_detail(jwt_client(user).get(path), 404, "Not found")


def test_pages_keep_their_html_answers(user, settings):
    settings.DEBUG = False
    assert "text/html" in Client().get("/nothing-here/")["Content-Type"]
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]


# --- found by schemathesis -------------------------------------------------------------------
@pytest.mark.parametrize("query", ["page=abc", "page=0", "page=1&page=2", "page=%C2%BD"])
def test_a_malformed_page_number_is_a_400_not_a_404(query, user):
    response = jwt_client(user).get(f"/api/predictions/?{query}")
    assert_json_detail(response, 400, "page")


def test_a_page_past_the_last_is_still_a_404_and_last_works(user):
    client = jwt_client(user)
    assert_json_detail(client.get("/api/predictions/?page=7"), 404)
    assert client.get("/api/predictions/?page=last").status_code == 200
    assert client.get("/api/predictions/?page=1").status_code == 200


def test_registration_refuses_a_number_where_text_is_expected(db):
    response = Client().post(
        "/api/auth/register/",
        {"email": "new@example.com", "name": 12345, "password": 987654321012},
        content_type="application/json",
    )
    assert_json_detail(response, 400)
    assert set(response.json()["errors"]) == {"name", "password"}


def schema_operation(path: str, method: str) -> dict:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return schema.json()["paths"][path][method]


def test_the_schema_documents_the_error_answers_and_the_wait_bounds(db):
    retrieve = schema_operation("/api/predictions/{id}/", "get")
    assert {"200", "202", "400", "401", "404", "414", "503"} <= set(retrieve["responses"])
    error = retrieve["responses"]["404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    (wait,) = [p for p in retrieve["parameters"] if p["name"] == "wait"]
    assert (wait["schema"]["minimum"], wait["schema"]["maximum"]) == (0, 60)
    create = schema_operation("/api/predictions/", "post")
    assert {"201", "202", "400", "401", "403", "413", "429", "503"} <= set(create["responses"])
    token = schema_operation("/api/auth/token/", "post")
    assert {"401", "429"} <= set(token["responses"])
    assert "404" in schema_operation("/api/feedback/", "post")["responses"]


def test_the_schema_states_what_the_api_refuses(db):
    """What schemathesis' positive/negative data checks found under-described."""
    listing = schema_operation("/api/predictions/", "get")
    (page,) = [p for p in listing["parameters"] if p["name"] == "page"]
    assert page["schema"]["minimum"] == 1
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    assert components["TokenObtain"]["properties"]["password"]["minLength"] == 1
    assert components["Refresh"]["properties"]["refresh"]["minLength"] == 1
    assert components["AccountDeletion"]["properties"]["password"]["minLength"] == 1
    deletion = schema_operation("/api/auth/me/", "delete")
    assert deletion["requestBody"]["required"] is True
    dashboard = schema_operation("/api/quality/dashboard/", "get")
    start = next(p for p in dashboard["parameters"] if p["name"] == "start")
    assert start["schema"]["minLength"] == 1
    assert "3660 days" in dashboard["description"]


def test_registration_is_public_in_the_schema(db):
    register = schema_operation("/api/auth/register/", "post")
    assert "security" not in register  # no lock in Swagger UI
    assert not {"401", "403"} & set(register["responses"])
    assert "security" in schema_operation("/api/auth/me/", "get")


def test_an_empty_password_or_refresh_token_is_a_400(db):
    for path, body in [
        ("/api/auth/token/", {"email": "a@example.com", "password": ""}),
        ("/api/auth/token/refresh/", {"refresh": ""}),
    ]:
        response = Client().post(path, body, content_type="application/json")
        assert_json_detail(response, 400)


ROWS = [
    (
        "too-many-fields",
        "1001 form fields to /api/predictions/, /api/auth/token/, "
        "/model/predict, /user/, /login (DEBUG on and off)",
        '400 JSON `detail` "Too many form fields"; nothing stored',
    ),
    ("too-many-files", "101 files to the same routes", '400 JSON `detail` "Too many files"'),
    (
        "disallowed-host",
        "Host: evil.example.com on /api/health/, /api/predictions/, /user/, /login, /feedback/",
        "400 JSON `detail` naming the Host header",
    ),
    ("unknown-api-url", "/api/nothing-here/, /api/predictions/not-a-uuid/", "404 JSON `detail`"),
    (
        "pages-stay-html",
        "an unknown page, a disallowed Host on /accounts/login/",
        "Django's HTML answers, unchanged",
    ),
    (
        "malformed-page",
        "?page=abc, 0, 1&page=2, ½ (found by schemathesis)",
        '400 JSON `detail` (was 404 "Invalid page", undocumented)',
    ),
    ("page-past-last", "?page=7 with one page; ?page=last", "404 JSON `detail`; 200"),
    (
        "number-as-text",
        "registration with numbers for name and password (found by schemathesis)",
        "400 with both fields in `errors` (was accepted as text)",
    ),
    (
        "schema-states-the-rules",
        "/api/schema/ (found by schemathesis' ST201/ST202)",
        "`page` minimum 1; minLength 1 on `password`, `refresh` and every non-blank field; "
        "DELETE /api/auth/me/ documents its required body; the dashboard's parameters are "
        "non-empty and their bounds described; registration has no security requirement "
        "(no lock) and no 401/403",
    ),
    (
        "schema-errors",
        "/api/schema/",
        "every operation documents its 4xx/503 answers "
        "(one Error shape) and `wait` has minimum 0, maximum 60",
    ),
    (
        "csp-header",
        "/, /accounts/login/, /api/health/, /api/docs/, a 404 (classifier/tests/test_csp.py)",
        "Content-Security-Policy with script-src and style-src "
        "'self' only, object-src 'none', frame-ancestors 'none'; no unsafe-inline",
    ),
    (
        "csp-templates",
        "every template in the repository",
        "no inline script, style or event handler",
    ),
    (
        "csp-queue-pages",
        "django-rq's /admin/rq/ pages (queues, a queue's jobs, empty, confirm), which carry "
        "fixed inline blocks (config/queue_pages.py)",
        "those blocks and style attributes admitted by their SHA-256 hashes, on those pages "
        "only; no unsafe-inline; /admin/ keeps 'self' only",
    ),
    (
        "csp-chromium",
        "headless Chromium over login, registration, upload, history, result, "
        "admin (index, lists, change form), django-rq's queue pages, the browsable API and "
        "its login, Swagger UI",
        "no CSP violation in the console and no JavaScript error",
    ),
    (
        "schemathesis",
        "schemathesis over /api/schema/ through nginx, every check (ST201/ST202 "
        "included; a 400 allowed for schema-valid data on the upload, account deletion, "
        "registration and the dashboard only), 8 examples, seed 20261201, rate limits "
        "100000/min (classifier/tests/test_schemathesis.py)",
        "986 cases, all passed: no 5xx, no undocumented status, no schema violation, no "
        "valid data refused or invalid data accepted elsewhere",
    ),
]


def test_reliability_doc_lists_these_cases():
    from classifier.tests.reliability_doc import check_section

    check_section("api-shape", ROWS)
