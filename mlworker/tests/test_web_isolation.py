"""The web process must never import TensorFlow: only model workers may."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import django
django.setup()
from django.test import Client
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view module the URL map names
import config.wsgi  # noqa: F401
client = Client()
for path in ["/", "/accounts/login/", "/api/health/", "/api/schema/", "/api/docs/"]:
    client.get(path)
heavy = ("tensorflow", "keras", "openvino", "onnxruntime", "tf2onnx", "onnx", "nncf")
loaded = sorted(name for name in heavy if name in sys.modules)
print("LOADED:" + ",".join(loaded))
"""


@pytest.mark.django_db
def test_serving_pages_and_api_never_imports_tensorflow():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "INFERENCE_RUNTIME": "auto",  # the production default, not the suite's tensorflow
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "LOADED:", f"the web process imported {loaded.removeprefix('LOADED:')}"
