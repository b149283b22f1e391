"""The hosts a local client uses are accepted; any other host is a 400 and one log line."""

import logging
import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

RUN_SH = Path(settings.BASE_DIR) / "scripts" / "run.sh"


def quick_start_allowed_hosts() -> list[str]:
    """The ALLOWED_HOSTS scripts/run.sh exports when the environment sets none."""
    found = re.search(r'ALLOWED_HOSTS="\$\{ALLOWED_HOSTS:-([^}]*)\}"', RUN_SH.read_text())
    return found.group(1).split(",")


def test_the_quick_start_allows_the_local_names_settings_allow_in_debug():
    assert quick_start_allowed_hosts() == settings.LOCAL_HOSTS
    assert set(settings.LOCAL_HOSTS) == {"localhost", "127.0.0.1", "[::1]", "0.0.0.0"}


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:8000"])
def test_local_hosts_are_served(client, host):
    assert client.get("/accounts/login/", HTTP_HOST=host).status_code == 200


def test_another_host_is_a_400_logged_as_one_line_without_traceback(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/accounts/login/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    logged = [record for record in caplog.records if record.name.startswith("django")]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    (record,) = logged
    assert record.name == "django.security.DisallowedHost"
    assert record.levelname == "WARNING"
    assert "evil.example.com" in record.getMessage()
    assert record.exc_info is None and record.exc_text is None
