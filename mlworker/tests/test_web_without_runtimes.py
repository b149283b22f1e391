"""The web image has no TensorFlow, OpenVINO or ONNX Runtime: its server must still serve.

gunicorn runs with those packages made unimportable (a `sitecustomize` that marks them
missing in `sys.modules`, as in an environment where they were never installed); a model
worker runs in another process with them. Pages and API uploads work end to end, and the
model name shown and recorded is the one the worker publishes.
"""

import os
import re
import subprocess
import sys

import pytest
import requests

from classifier.presentation import model_for_people
from ops.stack import BASE_DIR, stop_process, wait_until
from testing.live_stack import (
    TEST_MODEL_NAME,
    TEST_PASSWORD,
    live_auth_headers,
    live_upload,
    subprocess_env,
)
from testing.photos import distinct_photo

pytestmark = [pytest.mark.slow]

MISSING = ("tensorflow", "keras", "openvino", "onnxruntime", "tf2onnx", "onnx", "nncf")
BLOCKER = f"""
import sys

# As if never installed: `import x` raises ModuleNotFoundError, find_spec(x) is None.
for name in {MISSING!r}:
    sys.modules[name] = None
sys.stderr.write("model runtimes made unimportable in this process\\n")
"""
NO_WORKER_NOTE = "No model worker is running right now"


def logged_in_session(url: str, user) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{url}/accounts/login/",
        data={"username": user.email, "password": TEST_PASSWORD, "csrfmiddlewaretoken": token},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def test_web_without_model_runtimes_serves_pages_and_uploads_with_a_worker_elsewhere(
    live_stack, user, tmp_path
):
    blocker = tmp_path / "no-runtimes"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    stack = live_stack(
        workers=0,
        PYTHONPATH=str(blocker),
        INFERENCE_RUNTIME="auto",  # the production default: nothing to choose from here
        PREDICT_WAIT_SECONDS="0",
    )
    web_log = stack.config.log_dir / "web.log"
    assert "model runtimes made unimportable" in web_log.read_text()

    # No worker yet: pages say so, and an upload (form or API) still queues.
    session = logged_in_session(stack.url, user)
    home = session.get(f"{stack.url}/", timeout=10)
    assert home.status_code == 200 and NO_WORKER_NOTE in home.text
    assert NO_WORKER_NOTE in requests.get(f"{stack.url}/", timeout=10).text  # welcome page
    form_upload = session.post(
        f"{stack.url}/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"image": ("form.jpg", distinct_photo(1))},
        headers={"Referer": f"{stack.url}/"},
        timeout=30,
        allow_redirects=False,
    )
    assert form_upload.status_code == 302, form_upload.text[:500]
    headers = live_auth_headers(stack, user)
    queued = live_upload(stack, headers, distinct_photo(2))
    assert queued.status_code == 202, queued.text
    assert queued.json()["model_name"] == ""  # the worker that runs it will say

    # A worker in another process, with the runtimes (the suite's environment).
    worker_log = open(stack.config.log_dir / "worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_model_worker"],
        cwd=BASE_DIR,
        env={**os.environ, **subprocess_env()},
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        done = requests.get(f"{queued.json()['url']}?wait=60", headers=headers, timeout=90).json()
        assert done["status"] == "done" and len(done["top5"]) == 5
        assert done["model_name"] == TEST_MODEL_NAME

        home = session.get(f"{stack.url}/", timeout=10)
        assert home.status_code == 200
        # People read the model's name as they know it; the API keeps the technical one.
        shown = model_for_people(TEST_MODEL_NAME)
        assert NO_WORKER_NOTE not in home.text and shown in home.text

        answered = requests.post(
            f"{stack.url}/api/predictions/",
            headers=headers,
            files={"image": ("again.jpg", distinct_photo(2))},
            timeout=60,
        )
        assert answered.status_code == 201, answered.text
        assert answered.json()["cached"] is True
        assert answered.json()["model_name"] == TEST_MODEL_NAME

        page = session.get(f"{stack.url}/predictions/{done['id']}/", timeout=10)
        assert page.status_code == 200 and shown in page.text
    finally:
        stop_process(worker)
        worker_log.close()
    assert worker.returncode == 0
    wait_until(
        lambda: NO_WORKER_NOTE in session.get(f"{stack.url}/", timeout=10).text,
        timeout=10,
        what="the stopped worker's model to be withdrawn",
    )
    assert "Traceback" not in web_log.read_text()
