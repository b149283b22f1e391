"""The load-test accounts: created straight in the database (the register endpoint is
throttled), logged in through the API.

    python -m benchmarks.load.users create-users --count 60   # for a hand-run locust
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
from urllib.parse import urlparse

ACCOUNT_EMAIL_PATTERN = "loadtest-{index:03d}@example.com"
# Only ever set on the throw-away load-test accounts; override with LOADTEST_PASSWORD.
DEFAULT_ACCOUNT_PASSWORD = "violet-harbour-7392"
BENCH_ACCOUNTS = 5  # accounts a benchmark logs in as, round robin


def account_password() -> str:
    return os.environ.get("LOADTEST_PASSWORD", DEFAULT_ACCOUNT_PASSWORD)


def account_email(index: int) -> str:
    return ACCOUNT_EMAIL_PATTERN.format(index=index)


def create_accounts(count: int) -> int:
    """Create loadtest-000@example.com … with the test password; return how many were new.

    Goes through `accounts.services.register_user`, the API's own rules, but not through
    the HTTP endpoint, whose rate limit would stop a run before it starts.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from accounts import services

    created = 0
    for index in range(count):
        try:
            services.register_user(
                email=account_email(index), name=f"Load test {index}", password=account_password()
            )
            created += 1
        except services.EmailAlreadyRegistered:
            pass
    return created


def forget_earlier_uploads() -> int:
    """Delete what the load-test accounts uploaded in earlier runs (needs Django set up).

    Each run starts a fresh Redis, which knows nothing of an earlier run's unfinished
    predictions; the worker's recovery sweep would queue them again and the scenario
    would spend model time on images nobody waits for. Their feedback goes with them.
    """
    from classifier.models import Prediction

    deleted, _ = Prediction.objects.filter(
        owner__email__startswith=ACCOUNT_EMAIL_PATTERN.split("{")[0]
    ).delete()
    return deleted


def log_in(url: str, index: int) -> str:
    """An access token for load-test account `index`."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    credentials = {"email": account_email(index), "password": account_password()}
    connection.request(
        "POST", "/api/auth/token/", json.dumps(credentials), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"login failed: HTTP {response.status} {payload[:200]!r}")
    return json.loads(payload)["access"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-users", help="create the load-test accounts")
    create.add_argument("--count", type=int, default=60)
    args = parser.parse_args(argv)
    if args.command == "create-users":
        created = create_accounts(args.count)
        print(
            f"{created} new load-test accounts ({args.count} wanted), password from "
            "LOADTEST_PASSWORD or the default in benchmarks/load/users.py"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
