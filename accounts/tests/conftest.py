"""Fixtures shared by the login-protection and throttling tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings as django_settings

GENEROUS = "1000/min"


@pytest.fixture
def throttle_rates(settings) -> Callable[..., None]:
    """Set DRF's throttle rates: every scope generous but the ones a test names."""

    def set_rates(**tight: str) -> None:
        rates = dict.fromkeys(django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], GENEROUS)
        rates.update(tight)
        settings.REST_FRAMEWORK = {
            **django_settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": rates,
        }

    return set_rates
