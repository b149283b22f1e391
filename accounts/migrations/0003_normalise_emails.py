"""Store every address in its normalised form (accounts.identity: NFKC + casefold).

Logins now match the normalised address exactly, so a row stored as "Bob@Example.com"
must become "bob@example.com" or its owner could no longer log in.

Collisions: two rows whose addresses normalise to the same one (possible before, since
the unique index compares exact bytes, e.g. "Bob@x.org" and "bob@x.org"). Nothing is
merged or deleted: the account that logged in most recently (then the oldest) keeps the
address; each other one is deactivated and renamed to
"collision-<id>@invalid.invalid", so it can no longer log in and its data stays for an
operator to merge or delete. The migration prints each such rename (ids only).
Addresses that would be longer than 254 characters once normalised are left unchanged
and printed too. The reverse migration does nothing (the old spellings are not kept).
"""

import unicodedata
from collections import defaultdict
from datetime import datetime, timezone

from django.db import migrations

MAX_EMAIL_LENGTH = 254
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def normalised(email: str) -> str:
    # A copy of accounts.identity.normalize_email: migrations must not change when it does.
    return unicodedata.normalize("NFKC", email).strip().casefold()


def normalise_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    groups = defaultdict(list)
    for user in User.objects.only("id", "email", "last_login", "is_active").order_by("id"):
        target = normalised(user.email)
        if len(target) > MAX_EMAIL_LENGTH:
            print(f"\n  accounts: user {user.id}: address too long once normalised, unchanged")
            continue
        groups[target].append(user)
    for target, users in groups.items():
        users.sort(key=lambda user: (-(user.last_login or EPOCH).timestamp(), user.id))
        keeper, *others = users
        for other in others:
            other.email = f"collision-{other.id}@invalid.invalid"
            other.is_active = False
            other.save(update_fields=["email", "is_active"])
            print(f"\n  accounts: user {other.id} shares user {keeper.id}'s address once "
                  "normalised: deactivated and renamed (collision-<id>@invalid.invalid)")
        if keeper.email != target:
            keeper.email = target
            keeper.save(update_fields=["email"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_user_token_version")]

    operations = [migrations.RunPython(normalise_emails, migrations.RunPython.noop)]
