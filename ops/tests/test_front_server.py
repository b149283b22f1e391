"""nginx in front of gunicorn, with the deployment's own template (deploy/nginx/).

Real processes: gunicorn (gunicorn.conf.py, 8 threads as in every live test), Debian's
nginx rendering `deploy/nginx/classifier.conf.template` exactly as docker-compose does,
both on free loopback ports. The attacks are the ones the review ran against gunicorn
alone: sockets that send part of a request line or of the headers and then nothing, idle
sockets, and bodies that trickle. Every socket has a timeout; nginx is stopped after.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, suppress

import pytest
import requests
from django.conf import settings

from ops.stack import BASE_DIR
from testing.live_stack import live_auth_headers, live_upload
from testing.nginx import NGINX_PATH, TEMPLATE_READ_TIMEOUT, Nginx, render_nginx_site
from testing.photos import photo_bytes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not NGINX_PATH.exists(), reason=f"needs nginx at {NGINX_PATH} (apt-get install nginx)"
    ),
]

HEALTH_BUDGET_SECONDS = 1.0
#: client_header_timeout and client_body_timeout in this module's shared nginx, instead of
#: the template's TEMPLATE_READ_TIMEOUT: a test sees a socket cut off without waiting 10 s
#: (still above the trickle's 1.5 s between bytes)
NGINX_READ_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module")
def front(shared_stack, tmp_path_factory):
    """gunicorn + nginx in front of it (yields the Nginx), shared by the module's tests:
    none changes a setting. nginx stops before the stack."""
    work = tmp_path_factory.mktemp("front")
    static_root = work / "static"
    stack = shared_stack(NUM_PROXIES="1", STATIC_ROOT=str(static_root))
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=stack.env,
        check=True,
        timeout=120,
    )
    with Nginx(
        upstream=f"127.0.0.1:{stack.config.web_port}",
        static_root=static_root,
        work_dir=work / "nginx",
        max_body=str(settings.MAX_REQUEST_BODY_BYTES),
        read_timeout_seconds=NGINX_READ_TIMEOUT_SECONDS,
    ) as nginx:
        yield nginx


#: Linux answers the whole of 127.0.0.0/8 on loopback: the attacker is 127.0.0.1, another
#: client is 127.0.0.2 (nginx counts connections per client address).
ANOTHER_CLIENT = "127.0.0.2"


def health_seconds(port: int, source: str = ANOTHER_CLIENT) -> float:
    """Time one GET /api/health/ from `source` on a fresh connection (bounded: 5 s)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=HEALTH_BUDGET_SECONDS * 5, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/api/health/", headers={"Host": "127.0.0.1"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    assert response.status in (200, 503), body  # 503: no model worker runs in these tests
    assert body["database"] is True
    return elapsed


def open_sockets(port: int, count: int, first_bytes: bytes, exits: ExitStack) -> list:
    sockets = []
    for _ in range(count):
        sock = exits.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        if first_bytes:
            sock.sendall(first_bytes)
        sockets.append(sock)
    return sockets


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes (or resets) the socket within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass  # a 408 page may come first
    except TimeoutError:
        return False
    except OSError:
        return True  # reset
    return True


SLOW_KINDS = {
    "part of a request line": b"GET /api/health/ HT",
    "request line, part of the headers": b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A",
    "idle (connects, sends nothing)": b"",
}


def test_template_renders_with_every_value_filled_in():
    site = render_nginx_site(
        listen="80", upstream="web:8000", static_root="/srv/static/", max_body="11m"
    )
    assert "server web:8000;" in site
    assert "client_max_body_size 11m;" in site
    assert "alias /srv/static/;" in site
    assert "$proxy_add_x_forwarded_for" in site  # nginx's own variables are left alone
    # compose's default equals MAX_UPLOAD_MB + the form room Django allows
    assert settings.MAX_REQUEST_BODY_BYTES == 11 * 1024 * 1024
    # JSON routes: nginx's /api/ bound is Django's bound for bodies without a file
    assert "client_max_body_size 64k;" in site
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 64 * 1024


def test_without_nginx_a_few_slow_sockets_block_gunicorn(live_stack):
    """The finding, reproduced: gunicorn alone gives a thread to each half-sent request."""
    stack = live_stack(workers=0)
    with ExitStack() as exits:
        open_sockets(stack.config.web_port, 20, SLOW_KINDS["part of a request line"], exits)
        time.sleep(0.5)  # let gunicorn hand them to its threads
        with pytest.raises(requests.exceptions.Timeout):
            requests.get(f"{stack.url}/api/health/", timeout=3)


def test_200_slow_and_idle_connections_leave_health_answering_within_1s(front):
    nginx = front
    assert health_seconds(nginx.port) < HEALTH_BUDGET_SECONDS
    with ExitStack() as exits:
        held = {
            kind: open_sockets(nginx.port, 67, first_bytes, exits)
            for kind, first_bytes in SLOW_KINDS.items()
        }
        assert sum(len(sockets) for sockets in held.values()) >= 200
        timings = [health_seconds(nginx.port) for _ in range(10)]
        assert max(timings) < HEALTH_BUDGET_SECONDS, timings
        # and nginx drops them after its header timeout, without our help
        for kind, sockets in held.items():
            assert closed_within(sockets[0], NGINX_READ_TIMEOUT_SECONDS + 5), kind
    assert health_seconds(nginx.port) < HEALTH_BUDGET_SECONDS


def test_a_stalled_body_is_cut_off_and_never_reaches_gunicorn(front):
    nginx = front
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/predictions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\nab"
        )
        started = time.monotonic()
        assert closed_within(sock, NGINX_READ_TIMEOUT_SECONDS + 5)
        assert time.monotonic() - started < NGINX_READ_TIMEOUT_SECONDS + 5
    assert health_seconds(nginx.port) < HEALTH_BUDGET_SECONDS


def test_200_trickling_bodies_from_one_client_leave_health_answering(front):
    """1 byte every 1.5 s: nginx holds 20 (its per-client limit), refuses the rest at once
    with 429, and gunicorn sees none of them; another client is answered within 1 s."""
    nginx = front
    head = (
        b"POST /api/predictions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    )
    with ExitStack() as exits:
        trickles = open_sockets(nginx.port, 200, head, exits)
        timings = []
        for _ in range(4):
            for sock in trickles:
                with suppress(OSError):
                    sock.sendall(b"x")
            timings.append(health_seconds(nginx.port))
            time.sleep(1.5)
        refused = 0
        for sock in trickles:
            sock.settimeout(0.5)
            with suppress(OSError):
                refused += sock.recv(4096).startswith(b"HTTP/1.1 429")
        assert refused == 180
        assert max(timings) < HEALTH_BUDGET_SECONDS, timings


def test_connections_over_the_per_client_limit_get_a_json_429(front):
    nginx = front
    head = (
        b"POST /api/predictions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nx"
    )
    with ExitStack() as exits:
        open_sockets(nginx.port, 20, head, exits)  # limit_conn counts requests being read
        response = requests.get(f"{nginx.url}/api/health/", timeout=5)
        assert health_seconds(nginx.port) < HEALTH_BUDGET_SECONDS  # another client: fine
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/json"
    assert "connections" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"


def test_body_over_the_upload_cap_is_a_json_413_from_nginx(front, user):
    nginx = front
    response = requests.post(
        f"{nginx.url}/api/predictions/",
        data=b"x" * (settings.MAX_REQUEST_BODY_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]


def test_static_files_come_from_nginx(front):
    nginx = front
    response = requests.get(f"{nginx.url}/static/css/site.css", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/css"
    assert "max-age=2592000" in response.headers["Cache-Control"]  # nginx's `expires 30d`


def test_a_made_up_x_forwarded_for_does_not_dodge_the_login_limit(live_stack, tmp_path, user):
    """Rate limits count the address nginx saw (NUM_PROXIES=1), not what the client claims."""
    stack = live_stack(workers=0, NUM_PROXIES="1", THROTTLE_LOGIN="3/min")
    with Nginx(
        upstream=f"127.0.0.1:{stack.config.web_port}",
        static_root=tmp_path,
        work_dir=tmp_path / "nginx",
        max_body="11m",
    ) as nginx:
        statuses = [
            requests.post(
                f"{nginx.url}/api/auth/token/",
                json={"email": user.email, "password": f"wrong-{i}"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
                timeout=10,
            ).status_code
            for i in range(5)
        ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]


def test_behind_nginx_on_another_port_forms_work_and_urls_keep_the_port(live_stack, tmp_path, user):
    """compose publishes nginx as 8000:80: what the browser sees is host:8000, and both
    Django's origin check and the absolute URLs it builds must use that, not port 80."""
    # No worker: the upload stays pending and the answer is a 202 with a Location.
    stack = live_stack(workers=0, NUM_PROXIES="1", PREDICT_WAIT_SECONDS="0.2")
    with Nginx(
        upstream=f"127.0.0.1:{stack.config.web_port}",
        static_root=tmp_path,
        work_dir=tmp_path / "nginx",
        max_body="11m",
    ) as nginx:
        assert nginx.port != 80
        browser = requests.Session()
        login_url = f"{nginx.url}/accounts/login/"
        page = browser.get(login_url, timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        # A browser sends its page's origin (scheme, host and port) with every form POST.
        answer = browser.post(
            login_url,
            data={
                "username": user.email,
                "password": "correct-horse-42",
                "csrfmiddlewaretoken": token,
            },
            headers={"Origin": nginx.url, "Referer": login_url},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text[:500]
        assert "sessionid" in browser.cookies
        assert browser.get(f"{nginx.url}/", timeout=10).status_code == 200

        upload = live_upload(nginx, live_auth_headers(nginx, user), photo_bytes(), timeout=30)
    assert upload.status_code == 202, upload.text
    body = upload.json()
    for url in (upload.headers["Location"], body["url"], body["image_url"]):
        assert url.startswith(f"{nginx.url}/"), url


def test_trace_is_refused_in_json_with_an_allow_header(front):
    nginx = front
    response = requests.request("TRACE", f"{nginx.url}/api/predictions/", timeout=5)
    assert response.status_code == 405
    assert response.json()["detail"] == "Method not allowed."
    assert "GET" in response.headers["Allow"]


def raw_answer(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are (requests would refuse some); the status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        with suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def test_client_input_never_gets_html_or_a_5xx_from_the_edge(front, user):
    """The second review's edge cases, through nginx: every answer is JSON or a redirect."""
    nginx = front
    long_query = "&".join(f"filter{i}=value{i}" for i in range(155))  # about 2.7 KB
    assert 2600 < len(long_query) < 3000
    redirect = requests.get(
        f"{nginx.url}/predictions/?{long_query}", allow_redirects=False, timeout=10
    )
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == "/accounts/login/?next=/predictions/"
    cases = {
        "6 KB Authorization": requests.get(
            f"{nginx.url}/api/predictions/",
            headers={"Authorization": "Bearer " + "a" * 6000},
            timeout=10,
        ),
        "6 KB cookie on a page": requests.get(
            f"{nginx.url}/predictions/", headers={"Cookie": "sessionid=" + "b" * 6000}, timeout=10
        ),
        "100 KB JSON to the token view": requests.post(
            f"{nginx.url}/api/auth/token/",
            json={"email": user.email, "password": "x" * 100_000},
            timeout=10,
        ),
        "missing static file": requests.get(f"{nginx.url}/static/no-such-file.css", timeout=10),
    }
    expected = {"6 KB Authorization": 400, "6 KB cookie on a page": 400,
                "100 KB JSON to the token view": 413, "missing static file": 404}  # fmt: skip
    for name, response in cases.items():
        assert response.status_code == expected[name], (name, response.text[:200])
        assert response.headers["Content-Type"] == "application/json", name
        assert response.json()["detail"], name
    for request in (
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /api/health/ HTTP/2.5\r\nHost: x\r\n\r\n",
    ):
        status, headers, body = raw_answer(nginx.port, request)
        assert status == 400, (request, status, body[:200])
        assert headers["Content-Type"] == "application/json"


ROWS = [
    (
        "slow-and-idle-200",
        "through nginx, from one address: 67 sockets sending part of a request "
        "line, 67 sending the line and part of the headers, 67 idle; /api/health/ from another "
        "address, 10 times",
        "each answer within 1 s; nginx closes the held sockets after its "
        f"client_header_timeout ({TEMPLATE_READ_TIMEOUT} in the template, "
        f"{NGINX_READ_TIMEOUT_SECONDS} s in the test)",
    ),
    (
        "without-nginx",
        "20 half-sent request lines straight to gunicorn (8 threads)",
        "/api/health/ does not answer within 3 s: the review's finding, reproduced",
    ),
    (
        "stalled-body",
        "POST declaring 1000 bytes, 2 sent, then nothing",
        "connection closed within client_body_timeout + 5 s (the template's "
        f"{TEMPLATE_READ_TIMEOUT}, {NGINX_READ_TIMEOUT_SECONDS} s in the test); gunicorn "
        "never sees it",
    ),
    (
        "trickling-bodies-200",
        "200 bodies from one address, 1 byte every 1.5 s",
        "nginx holds 20 (its per-client limit) and answers 180 at once with 429; another client "
        "answered within 1 s (nginx's body timeout is per read, so a trickle is held by nginx, "
        "never by gunicorn)",
    ),
    (
        "connections-over-limit",
        "a 21st connection from one address",
        "429 JSON `detail` with Retry-After: 5; another address is served",
    ),
    ("body-over-cap", "a body of MAX_UPLOAD_MB + 1 MB + 1 byte", "413 JSON `detail` from nginx"),
    (
        "edge-input",
        "anonymous GET /predictions/ with a 2.7 KB query; a 6 KB Authorization (API) or cookie "
        "(page); 100 KB of JSON to /api/auth/token/; a missing static file; Transfer-Encoding: "
        "gzip; HTTP/2.5",
        "302 to the login page with `next` the path alone (was 502); 400, 400, 413 (64 KB "
        "bound on /api/ but the upload), 404, 400, 400: each JSON `detail` from nginx (was "
        "nginx's HTML)",
    ),
    ("trace", "TRACE /api/predictions/", "405 JSON `detail` with an Allow header"),
    ("static-files", "GET /static/css/site.css", "served by nginx from STATIC_ROOT, 30-day cache"),
    (
        "forged-x-forwarded-for",
        "5 wrong logins, each with a made-up X-Forwarded-For (THROTTLE_LOGIN=3/min, NUM_PROXIES=1)",
        "401, 401, 401, then 429: the limit counts the address nginx saw",
    ),
]


def test_reliability_doc_lists_these_cases():
    from classifier.tests.reliability_doc import check_section

    check_section("front-server", ROWS)
