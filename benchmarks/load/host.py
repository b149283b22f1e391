"""Facts about the host and the run that every results file starts with."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.load import REPO_ROOT


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


#: the CPU flags that decide how fast each precision runs: vector width, int8 dot products
#: (VNNI), bf16 arithmetic, matrix units
SIMD_FLAGS = frozenset({
    "avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8",
    "amx_bf16",
})  # fmt: skip
#: int8 dot products in hardware: the targets for int8 are higher where the CPU has them
VNNI_FLAGS = frozenset({"avx_vnni", "avx512_vnni", "amx_int8"})


def simd_flags() -> list[str]:
    from mlworker.runtimes import cpu_flags

    return sorted(cpu_flags() & SIMD_FLAGS)


def host_description() -> dict:
    """The machine a run measured: CPU (with the flags that decide the fastest precision),
    memory, OS, Python, and how busy it was when the run started."""
    import psutil

    from mlworker.runtimes import host_bf16_flags

    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "bf16_flags": ", ".join(sorted(host_bf16_flags())),
        "simd_flags": simd_flags(),
        "vnni": bool(VNNI_FLAGS & set(simd_flags())),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for a progress line."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def run_record(run_name: str) -> dict:
    """What every results file starts with: which run, how it was started, on what."""
    return {
        "run": run_name,
        "command": command_line(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "host": host_description(),
    }


def command_line() -> str:
    """This process's command line, as someone would type it from the repository root."""
    interpreter = Path(sys.executable)
    if interpreter.is_relative_to(REPO_ROOT):
        interpreter = interpreter.relative_to(REPO_ROOT)
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    program = ["-m", spec.name] if spec else [os.path.relpath(sys.argv[0], REPO_ROOT)]
    return " ".join([str(interpreter), *program, *sys.argv[1:]])


def git_commit(checkout: Path = REPO_ROOT) -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("django", "rq", "redis", "tensorflow-cpu", "keras", "locust", "gunicorn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions
