"""Measure the account protections on a real server (a measurement, not a test).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ic_measure REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python -m benchmarks.measure_accounts

Starts gunicorn (two processes, 8 threads each, no model worker) on the database and
Redis the environment names (the database is created and migrated if missing) and a real
SMTP server (`accounts/tests/smtp_server.py`, answering each command after SMTP_REPLY_MS,
as a server across a network does), then prints:

- reset timing: 30 password-reset requests for an address with an account and 30 for one
  without, interleaved, each timed from the POST to its answer; medians, p90, and how many
  of the 30 pairs the best single threshold separates (30 of 30 = timing tells);
- parallel limits: 40 registrations from one address at THROTTLE_REGISTER=20/hour, 30 API
  uploads by one user at THROTTLE_UPLOADS=5/min (how many answered other than 429);
- parallel logins: 16 parallel correct logins to one account at
  THROTTLE_LOGIN_ACCOUNT=10/15min (how many 200).
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

from benchmarks.load.photos import noise_jpeg
from benchmarks.load.system import ensure_postgres_database, manage

PASSWORD = "correct-horse-42"
KNOWN = "reset-known@example.com"
UNKNOWN = "reset-unknown@example.com"
RESETS = 30
#: each SMTP reply's delay: ~7 replies per message, about a mail server across a network
SMTP_REPLY_MS = 8


def prepare_database(env: dict[str, str]) -> None:
    ensure_postgres_database(env["DATABASE_URL"])
    manage(env, "migrate", "--noinput")
    script = (
        "from accounts.models import User\n"
        "User.objects.filter(email__endswith='@example.com').delete()\n"
        f"for email in ({KNOWN!r}, 'shared@example.com', 'uploader@example.com'):\n"
        f"    User.objects.create_user(email=email, name='m', password={PASSWORD!r})\n"
    )
    manage(env, "shell", "-c", script)


def csrf_session(url: str, path: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(f"{url}{path}", timeout=30).text
    return session, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def time_reset(url: str, email: str) -> float:
    session, token = csrf_session(url, "/accounts/password/reset/")
    body = {"email": email, "csrfmiddlewaretoken": token}
    started = time.perf_counter()
    response = session.post(
        f"{url}/accounts/password/reset/", data=body, allow_redirects=False, timeout=60
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 302, (response.status_code, response.text[:200])
    return elapsed * 1000


def separated(known: list[float], unknown: list[float]) -> int:
    """Pairs (known, unknown) a single threshold puts on the right sides, at its best."""
    best = 0
    for threshold in sorted(known + unknown):
        best = max(
            best,
            min(sum(k > threshold for k in known), sum(u <= threshold for u in unknown)),
            min(sum(k <= threshold for k in known), sum(u > threshold for u in unknown)),
        )
    return best


def measure_resets(url: str, smtp) -> None:
    for email in (KNOWN, UNKNOWN):  # warm up both paths
        time_reset(url, email)
    known, unknown = [], []
    for _ in range(RESETS):
        known.append(time_reset(url, KNOWN))
        unknown.append(time_reset(url, UNKNOWN))
    smtp.wait_for(RESETS + 1, timeout=60)

    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[-1]

    print(
        f"reset timing ({RESETS} + {RESETS} requests, real SMTP server on 127.0.0.1, "
        f"{SMTP_REPLY_MS} ms per reply):"
    )
    print(f"  known address:   median {statistics.median(known):6.1f} ms, p90 {p90(known):6.1f}")
    print(
        f"  unknown address: median {statistics.median(unknown):6.1f} ms, p90 {p90(unknown):6.1f}"
    )
    print(f"  best threshold separates {separated(known, unknown)} of {RESETS}")
    print(f"  e-mails delivered: {len(smtp.messages)} (expected {RESETS + 1})")


def parallel(call, count: int) -> Counter:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(call, range(count)))


def measure_limits(url: str) -> None:
    def register(index: int) -> int:
        body = {"email": f"m{index}-{time.time_ns()}@example.com", "name": "M",
                "password": "tulip-garden-93"}  # fmt: skip
        return requests.post(f"{url}/api/auth/register/", json=body, timeout=60).status_code

    codes = parallel(register, 40)
    print(f"40 parallel registrations (20/hour): {40 - codes[429]} accepted, {dict(codes)}")

    login = {"email": "uploader@example.com", "password": PASSWORD}
    access = requests.post(f"{url}/api/auth/token/", json=login, timeout=60).json()["access"]
    headers = {"Authorization": f"Bearer {access}"}
    photos = [noise_jpeg(index) for index in range(30)]

    def upload(index: int) -> int:
        files = {"image": (f"{index}.jpg", photos[index])}
        url_ = f"{url}/api/predictions/"
        return requests.post(url_, headers=headers, files=files, timeout=60).status_code

    codes = parallel(upload, 30)
    print(f"30 parallel API uploads (5/min): {30 - codes[429]} accepted, {dict(codes)}")


def measure_logins(url: str) -> None:
    def log_in(_index: int) -> int:
        body = {"email": "shared@example.com", "password": PASSWORD}
        return requests.post(f"{url}/api/auth/token/", json=body, timeout=120).status_code

    codes = parallel(log_in, 16)
    print(f"16 parallel correct logins (10/15min per account): {dict(codes)}")


def main() -> None:
    from accounts.tests.smtp_server import SmtpServer
    from ops.stack import Stack, StackConfig, free_port

    smtp = SmtpServer(reply_delay=SMTP_REPLY_MS / 1000).start()
    env = {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DEBUG": "1",
        "HTTPS": "0",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "0",
        "PREDICT_WAIT_SECONDS": "0",
        "THROTTLE_PASSWORD_RESET": "100000/min",
        "THROTTLE_PASSWORD_RESET_EMAIL": "100000/min",
        "THROTTLE_LOGIN": "100000/min",
        "THROTTLE_LOGIN_ACCOUNT": "10/15min",
        "THROTTLE_REGISTER": "20/hour",
        "THROTTLE_UPLOADS": "5/min",
    }
    prepare_database({**os.environ, **env})
    # The cache gets its own database, as in the tests (the queue's index + 8).
    base, _, index = env["REDIS_URL"].rpartition("/")
    env["CACHE_REDIS_URL"] = f"{base}/{(int(index or 0) + 8) % 16}"
    for url in (env["REDIS_URL"], env["CACHE_REDIS_URL"]):
        redis.Redis.from_url(url).flushdb()
    with tempfile.TemporaryDirectory() as media:
        env["MEDIA_ROOT"] = media
        config = StackConfig(
            web_port=free_port(), workers=0, web_processes=2, web_threads=8, env=env,
            log_dir=Path(media) / "logs", ready_timeout=120,
        )  # fmt: skip
        stack = Stack(config).start()
        try:
            measure_resets(stack.url, smtp)
            measure_limits(stack.url)
            measure_logins(stack.url)
        finally:
            stack.stop()
            smtp.stop()


if __name__ == "__main__":
    main()
