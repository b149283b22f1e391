"""BentoML as the peer, from this project's side: its virtualenv, `bentoml serve` of
`benchmarks.peers.bentoml_resnet50`, the same closed-loop clients as ours, and its end.

BentoML lives in its own virtualenv (.run/bentoml-venv, created on first use with pip;
never a dependency of this project), usage tracking off.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

from benchmarks import bench_pipeline, load
from benchmarks.load import clients, host, sampling, system
from benchmarks.load.markdown import fmt
from ops.stack import free_port, wait_until

BENTOML_VERSION = "1.4.40"
BENTOML_VENV = load.REPO_ROOT / ".run" / "bentoml-venv"
#: one client alone: fewer uploads than ours (a lone upload took 1.9 s in run runtimes-s4b)
SINGLE_REQUESTS = 20


def ensure_bentoml_venv() -> Path:
    python = BENTOML_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import bentoml; assert bentoml.__version__ == '{BENTOML_VERSION}'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"Creating {BENTOML_VENV} (bentoml=={BENTOML_VERSION}, tensorflow-cpu)…", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENTOML_VENV)], check=True)
    tensorflow = host.package_versions().get("tensorflow-cpu", "2.21.0")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"bentoml=={BENTOML_VERSION}",
         f"tensorflow-cpu=={tensorflow}", "pillow", "numpy"],
        check=True,
    )  # fmt: skip
    return python


def bentoml_summary(result: clients.LoadResult) -> dict:
    """The load's summary, CPU and memory being all of BentoML's (model included)."""
    summary = result.summary()
    return {
        **summary,
        "cpu_ms_per_request": summary["cpu_ms_per_request"]["bentoml"],
        "rss_mb_total": summary["rss_mb_total"]["bentoml"],
    }


def bentoml_ready(process: subprocess.Popen, port: int, log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"bentoml serve exited; see {log}")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def stop_group(process: subprocess.Popen) -> None:
    """`bentoml serve` and the service processes it started (its own session)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def bench_bentoml(args, pool, run_dir: Path) -> dict:
    """--clients at saturation, then one client alone, on BentoML's ResNet50."""
    python = ensure_bentoml_venv()
    port = free_port()
    log = run_dir / "logs" / "bentoml.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **system.tensorflow_threads(workers=1),
        "BENTOML_DO_NOT_TRACK": "True",  # BentoML's usage tracking, off
        "PEER_BATCH_SIZE": str(args.batch_size),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    bentoml = python.parent / "bentoml"
    command = [str(bentoml), "serve", "benchmarks.peers.bentoml_resnet50:ResNet50",
               "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    print(f"[bentoml] serving ResNet50 on port {port}…", flush=True)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=load.REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: bentoml_ready(process, port, log), timeout=180, what=f"BentoML ({log})")

        def sampler() -> sampling.ProcessSampler:
            sampler = sampling.ProcessSampler(interval=1.0)
            sampler.add("bentoml", [process.pid], include_children=True)
            sampler.add("load generator", [os.getpid()])
            return sampler

        def uploader(i: int) -> clients.Uploader:
            url = f"http://127.0.0.1:{port}"
            first = 50_000_000 + i * 100_000
            return clients.Uploader(url, pool, first, path="/classify", field_name="images",
                                   expect=200)  # fmt: skip

        saturated = bentoml_summary(
            clients.closed_loop_load(
                uploader,
                clients=args.clients,
                warmup=args.warmup,
                seconds=args.seconds,
                sampler=sampler(),
            )
        )
        bench_pipeline.print_load("bentoml", saturated)
        single = clients.one_client_load(
            uploader(900), requests=min(args.single_requests, SINGLE_REQUESTS), warmup=3,
            sampler=sampler(),
        ).summary()  # fmt: skip
        print(f"[bentoml]     alone: p50 {fmt(single['p50_ms'], 0)} ms", flush=True)
    finally:
        stop_group(process)
    return {"saturated": saturated, "single_user": single, "bentoml": BENTOML_VERSION}
