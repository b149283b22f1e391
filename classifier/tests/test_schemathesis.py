"""schemathesis over the published OpenAPI schema, against a real gunicorn.

Bounded: a fixed seed, a few examples per operation, a time budget, a timeout per request.
Rate limits are set high so the run is not dominated by 429s (the limits have their own
tests). A 5xx, an undocumented status code, or an answer that does not match the schema
fails the test, and so do valid data refused (positive_data_acceptance, ST201) and invalid
data accepted (negative_data_rejection, ST202): the schema must say what the API takes. The
output names the failing request.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from testing.live_stack import live_auth_headers
from testing.nginx import NGINX_PATH, Nginx

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
HIGH = "100000/min"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed"),
    pytest.mark.skipif(not NGINX_PATH.exists(), reason="needs nginx (apt-get install nginx)"),
]


def run_schemathesis(url: str, headers: dict, report: Path, *, examples: int = 8) -> tuple:
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{url}/api/schema/",
        "--checks", "all",
        "--max-examples", str(examples), "--seed", "20261201",
        "--workers", "2", "--request-timeout", "15", "--max-time", "90",
        "--header", f"Authorization: {headers['Authorization']}",
        # health's 503 means "degraded" (no model worker runs here): its own tests cover it
        "--exclude-path", "/api/health/",
        "--report", "junit", "--report-junit-path", str(report),
        "--output-truncate", "true", "--no-color",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    return result.returncode, result.stdout + result.stderr


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_stack, user, tmp_path):
    stack = live_stack(
        workers=0,
        NUM_PROXIES="1",
        PREDICT_WAIT_SECONDS="0",
        THROTTLE_LOGIN=HIGH,
        THROTTLE_LOGIN_ACCOUNT=HIGH,
        THROTTLE_REGISTER=HIGH,
        THROTTLE_UPLOADS=HIGH,
    )
    headers = live_auth_headers(stack, user)
    # Through nginx with the deployment's template, as a client on the internet would be.
    with Nginx(
        upstream=f"127.0.0.1:{stack.config.web_port}",
        static_root=tmp_path,
        work_dir=tmp_path / "nginx",
        max_body=str(settings.MAX_REQUEST_BODY_BYTES),
    ) as nginx:
        code, output = run_schemathesis(nginx.url, headers, tmp_path / "st.xml")
    print(output[-3000:])
    assert code == 0, output[-12000:]
