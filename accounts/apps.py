from django.apps import AppConfig
from django.db.models.signals import post_init, post_save, pre_delete


def _loaded(sender, instance, **kwargs):
    """Remember what the row said, to tell a password change or deactivation on save."""
    if {"token_version", "is_active"} & instance.get_deferred_fields():
        instance._loaded_token_state = None  # reading them would cost a query each
        return
    instance._loaded_token_state = (instance.token_version, instance.is_active)


def _saved(sender, instance, created, **kwargs):
    from accounts import services

    before = getattr(instance, "_loaded_token_state", None)
    changed = not created and before is not None and before[0] != instance.token_version
    if created or changed or before is None or before[1] != instance.is_active:
        services.account_saved(user=instance, credentials_changed=changed)
    instance._loaded_token_state = (instance.token_version, instance.is_active)


def _deleting(sender, instance, **kwargs):
    from accounts import services

    services.account_deleting(user=instance)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI extension)
        from accounts.models import User

        post_init.connect(_loaded, sender=User, dispatch_uid="accounts-token-state")
        post_save.connect(_saved, sender=User, dispatch_uid="accounts-token-saved")
        pre_delete.connect(_deleting, sender=User, dispatch_uid="accounts-token-deleting")
