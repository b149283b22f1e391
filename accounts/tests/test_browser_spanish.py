"""A person who reads Spanish, in headless Chromium against real gunicorn: the browser asks
for Spanish, and registering, uploading, deleting a photo, changing the password, the
language switch and deleting the account all happen in Spanish."""

import re

import pytest
from playwright.sync_api import expect

from classifier.models import Prediction
from classifier.tests.test_browser import open_page, outside_playwright  # noqa: F401 (fixture)
from testing.photos import photo_bytes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "violet-lantern-93"
NEW_PASSWORD = "amber-kettle-58"


def test_a_spanish_speaker_registers_uploads_deletes_and_leaves(
    shared_stack,
    transactional_db,
    open_page,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    stack = shared_stack()
    page = open_page(stack, locale="es-ES")

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="¿Qué hay en tu foto?")).to_be_visible()
    page.get_by_role("link", name="Crea una cuenta gratuita").click()
    page.get_by_label("Correo electrónico").fill("eva@example.com")
    page.get_by_label("Nombre visible").fill("Eva")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.get_by_text("Gracias, Eva. Inicia sesión con tu correo")).to_be_visible()
    expect(page.get_by_label("Correo electrónico")).to_have_value("eva@example.com")
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()

    # The upload form: the browser-side check and the server's error, both in Spanish.
    expect(page.get_by_role("heading", name="Clasifica una foto")).to_be_visible()
    page.get_by_role("button", name="Clasificar").click()
    expect(page.locator("#image-errors")).to_have_text("Primero elige una foto.")
    # A "JPEG" the browser cannot decode is stopped before sending; an SVG, which browsers
    # show but the model does not take, goes to the server, which says why.
    page.locator("#id_image").set_input_files(
        {"name": "notas.jpg", "mimeType": "image/jpeg", "buffer": b"solo texto"}
    )
    expect(page.locator("#image-errors")).to_contain_text("Ese archivo no es una foto que podamos")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect/></svg>'
    page.locator("#id_image").set_input_files(
        {"name": "dibujo.svg", "mimeType": "image/svg+xml", "buffer": svg}
    )
    page.get_by_role("button", name="Clasificar").click()
    expect(page.locator("#image-errors")).to_contain_text("El tipo de archivo no es compatible.")
    photo = tmp_path / "gata.jpg"
    photo.write_bytes(photo_bytes("chelsea"))
    page.locator("#id_image").set_input_files(str(photo))
    page.get_by_role("button", name="Clasificar").click()
    expect(page).to_have_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("heading", name="Clasificando…")).to_be_visible()
    expect(page.locator("#status")).to_have_text("En cola")

    # Delete the photo: a confirmation page first.
    page.get_by_role("link", name="Eliminar esta foto").click()
    expect(page.get_by_role("heading", name="¿Eliminar esta foto?")).to_be_visible()
    page.get_by_role("button", name="Eliminar").click()
    expect(page).to_have_url(f"{stack.url}/predictions/")
    expect(page.get_by_text("La foto y su resultado se han eliminado.")).to_be_visible()
    expect(page.get_by_text("Aún no hay nada")).to_be_visible()
    assert outside_playwright(Prediction.objects.count) == 0

    # Change the password from the account page (the name in the top bar).
    page.locator("header").get_by_role("link", name="Eva").click()
    expect(page.get_by_role("heading", name="Tu cuenta", exact=True)).to_be_visible()
    page.get_by_role("link", name="Cambia tu contraseña").click()
    page.locator("#id_old_password").fill(PASSWORD)
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Cambiar la contraseña").click()
    expect(page.get_by_text("Tu contraseña se ha cambiado.")).to_be_visible()

    # The language switch overrides the browser's language, both ways.
    page.locator("footer").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    page.locator("footer").get_by_role("button", name="Español").click()
    expect(page.get_by_role("heading", name="Tu cuenta", exact=True)).to_be_visible()

    # Delete the account, confirmed with the (new) password.
    page.get_by_role("link", name="Eliminar tu cuenta…").click()
    page.get_by_label("Tu contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Eliminar mi cuenta y mis datos").click()
    expect(page.get_by_text("La contraseña no es correcta.")).to_be_visible()
    page.get_by_label("Tu contraseña").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Eliminar mi cuenta y mis datos").click()
    expect(page).to_have_url(f"{stack.url}/accounts/login/")
    expect(
        page.get_by_text("Tu cuenta y todas sus fotos y opiniones se han eliminado.")
    ).to_be_visible()
