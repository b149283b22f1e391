"""The interface speaks English or Spanish: chosen by Accept-Language, or by the switch."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from accounts.tests.test_pages import inner_text

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)


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


# --- The catalogues -----------------------------------------------------------------------
def spanish_catalogues() -> list[Path]:
    return sorted(
        path
        for path in ROOT.glob("**/locale/es/LC_MESSAGES/django.po")
        if ".venv" not in path.parts
    )


def gettext_tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def compiled_catalog(mo_path: Path) -> dict:
    """The translations in a .mo file, without its header (dates change on every update)."""
    with mo_path.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)
    catalog.pop("", None)
    return catalog


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="GNU gettext is not installed")
def test_every_spanish_entry_is_translated_and_the_committed_mo_is_current(tmp_path):
    catalogues = spanish_catalogues()
    assert ROOT / "locale/es/LC_MESSAGES/django.po" in catalogues
    for po in catalogues:
        untranslated = gettext_tool("msgattrib", "--untranslated", "--no-obsolete", str(po))
        assert not untranslated.strip(), f"untranslated entries in {po}:\n{untranslated}"
        fuzzy = gettext_tool("msgattrib", "--only-fuzzy", "--no-obsolete", str(po))
        assert not fuzzy.strip(), f"fuzzy entries in {po}:\n{fuzzy}"
        fresh = tmp_path / "fresh.mo"
        gettext_tool("msgfmt", "--check", "-o", str(fresh), str(po))
        committed = po.with_suffix(".mo")
        assert committed.exists(), f"{committed} is missing: run scripts/translations.sh"
        assert compiled_catalog(committed) == compiled_catalog(fresh), (
            f"{committed} is older than its .po: run scripts/translations.sh"
        )


def test_errors_answered_before_the_views_follow_the_language_too(client):
    spanish = client.get("/api/no-such-endpoint/", HTTP_ACCEPT_LANGUAGE="es")
    assert spanish.status_code == 404
    assert spanish.json() == {"detail": "No encontrado."}
    too_large = client.post(
        "/api/predictions/",
        data=b"x",
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert too_large.status_code == 413
    assert too_large.json()["detail"].startswith("La petición supera el límite de subida")


@pytest.mark.skipif(not shutil.which("xgettext"), reason="GNU gettext is not installed")
def test_every_wrapped_string_is_in_a_catalogue_and_translated(tmp_path):
    """makemessages on a copy of the checkout finds nothing untranslated: a string wrapped
    in code or a template but missing from the .po files fails here (run
    scripts/translations.sh and translate it)."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    copy = tmp_path / "checkout"
    for name in filter(None, tracked):
        source = ROOT / name.decode()
        if source.is_file():
            target = copy / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    run = subprocess.run(
        ["bash", "scripts/translations.sh"], cwd=copy, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for po in copy.glob("**/locale/es/LC_MESSAGES/django.po"):
        if ".venv" in po.parts:
            continue
        untranslated = gettext_tool("msgattrib", "--untranslated", "--no-obsolete", str(po))
        # A changed string is merged as a "fuzzy" guess from a similar old one: not done.
        untranslated += gettext_tool("msgattrib", "--only-fuzzy", "--no-obsolete", str(po))
        assert not untranslated.strip(), (
            f"new strings without a Spanish translation in {po.relative_to(copy)} "
            f"(run scripts/translations.sh and translate them):\n{untranslated[:3000]}"
        )
