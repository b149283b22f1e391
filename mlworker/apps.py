from django.apps import AppConfig


class MlworkerConfig(AppConfig):
    name = "mlworker"
    verbose_name = "Model worker"
