"""run_model_worker refuses to start, with one clear line, when its model cannot be had."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow]  # starts run_model_worker processes


def run_worker_command(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "run_model_worker", "--burst", *args],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_missing_weights_file_stops_the_worker_with_a_fix(tmp_path):
    missing = tmp_path / "nowhere.h5"
    result = run_worker_command("--model", "resnet50", RESNET50_WEIGHTS=str(missing))
    assert result.returncode == 2
    message = [line for line in result.stderr.splitlines() if "run_model_worker:" in line]
    assert len(message) == 1
    assert str(missing) in message[0] and "RESNET50_WEIGHTS" in message[0]


def test_unknown_model_is_refused():
    result = run_worker_command("--model", "alexnet")
    assert result.returncode != 0
    assert "alexnet" in result.stderr


def test_worker_says_in_one_line_what_it_runs_and_why():
    # The run's MODEL_CACHE_DIR (config/testenv.py): a model converted before is loaded, not
    # converted again (test_runtime_parity.py proves a first conversion and its reuse).
    result = run_worker_command(
        "--model", "efficientnet_lite0", "--runtime", "openvino", "--precision", "fp32",
        INFERENCE_RUNTIME="openvino", INFERENCE_PRECISION="fp32",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if " on openvino fp32 " in line]
    assert len(lines) == 1, result.stdout
    assert "efficientnet_lite0+openvino-fp32" in lines[0]
    assert "INFERENCE_RUNTIME=openvino, INFERENCE_PRECISION=fp32: fp32 as asked" in lines[0]


def test_an_unknown_runtime_is_refused():
    result = run_worker_command("--runtime", "tensorrt")
    assert result.returncode != 0
    assert "tensorrt" in result.stderr
