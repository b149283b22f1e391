"""The interface speaks English or Spanish: chosen by Accept-Language, or by the switch."""

import re

import pytest
from django.conf import settings

from accounts.tests.test_pages import inner_text

pytestmark = pytest.mark.django_db


def test_accept_language_spanish_gets_the_spanish_page(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")
    html = response.content.decode()
    assert '<html lang="es">' in html
    assert "Iniciar sesión" in inner_text(html)
    assert response["Content-Language"] == "es"


def test_without_accept_language_the_page_is_english(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Log in" in inner_text(html)


def test_an_unsupported_language_falls_back_to_english(client):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert '<html lang="en">' in html


def test_every_page_has_a_language_switch_without_scripts(client):
    html = client.get("/accounts/login/").content.decode()
    switch = re.search(r'<form[^>]*class="language-switch".*?</form>', html, re.S).group(0)
    assert 'action="/i18n/setlang/"' in switch
    assert 'name="language" value="es"' in switch
    assert "Español" in switch
    assert "<script" not in switch and "onclick" not in switch


def test_the_switch_keeps_the_chosen_language_over_accept_language(client):
    response = client.post(
        "/i18n/setlang/",
        {"language": "es", "next": "/accounts/register/"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/register/"
    html = client.get("/accounts/register/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="es">' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = client.get("/accounts/register/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="en">' in html


def test_the_switch_does_not_redirect_to_another_site(client):
    response = client.post(
        "/i18n/setlang/", {"language": "es", "next": "https://evil.example.com/"}
    )
    assert response["Location"] == "/"


def test_api_errors_follow_the_language(client):
    spanish = client.get("/api/predictions/", HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.status_code == 401
    assert spanish.json()["detail"] == "Las credenciales de autenticación no se proveyeron."
    english = client.get("/api/predictions/")
    assert english.json()["detail"] == "Authentication credentials were not provided."


def test_errors_answered_before_the_views_follow_the_language_too(client):
    spanish = client.get("/api/no-such-endpoint/", HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.status_code == 404
    assert spanish.json() == {"detail": "No encontrado."}
    too_large = client.post(
        "/api/predictions/",
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(settings.MAX_REQUEST_BODY_BYTES + 1),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert too_large.status_code == 413
    assert too_large.json()["detail"].startswith("La petición supera el límite de subida")
