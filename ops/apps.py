from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the system: the quick-start supervisor (`stack`), health, container checks."""

    name = "ops"
    verbose_name = "Operations"
