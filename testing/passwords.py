"""Password hashing at a test's pace, for the suite's own process and the servers it starts."""

from django.conf import global_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 at 1,000 iterations instead of a million: hashing every password a
    test sets or checks was a large share of the suite's CPU (each registration, login and
    account deletion on a live server, hundreds in the schemathesis and Locust runs). The
    same algorithm name, and PBKDF2 reads the count from the hash, so a hash made at either
    count is accepted by both."""

    iterations = 1_000


#: the default hashers with the quick PBKDF2 first (it makes new hashes)
QUICK_PASSWORD_HASHERS = [
    "testing.passwords.QuickPBKDF2PasswordHasher",
    *(path for path in global_settings.PASSWORD_HASHERS if "PBKDF2PasswordHasher" not in path),
]
