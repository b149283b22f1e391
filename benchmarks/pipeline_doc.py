"""docs/BENCHMARK_PIPELINE.md from a bench_pipeline.py run (bench.json): the functions here
compute the figures, the prose is in benchmarks/templates/benchmark_pipeline.md. Figures
the benchmarks did not measure (the older system, BentoML, the targets, each optimisation's
before and after) are data with their provenance in benchmarks/data/reference_figures.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.load.markdown import render

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_figures.json").read_text())
TARGETS: dict = REFERENCE["pipeline_targets"]
MODEL_CPU = "model (forward pass, as measured alone)"
RUNTIMES_SECTION = ("<!-- bench_runtimes:start -->", "<!-- bench_runtimes:end -->")


def cpu_per_upload(outcome: dict) -> dict[str, float] | None:
    """CPU ms per answered upload at saturation, by consumer; the model's share is its CPU per
    image measured alone, the rest of the worker's CPU is bookkeeping around it."""
    saturated = outcome["saturated"]
    model_ms = outcome["forward"].get("cpu_ms_per_image")
    worker_ms = saturated.get("worker_cpu_ms_per_request")
    if not (model_ms and worker_ms):
        return None
    return {
        "web": saturated.get("web_cpu_ms_per_request") or 0,
        MODEL_CPU: model_ms,
        "rest of the worker (decode, database, Redis)": max(worker_ms - model_ms, 0),
        "PostgreSQL": saturated.get("postgres_cpu_ms_per_request") or 0,
        "Redis": saturated.get("redis_cpu_ms_per_request") or 0,
        "load generator": saturated.get("load_generator_cpu_ms_per_request") or 0,
    }


def cpu_bound(outcome: dict) -> dict:
    """Where the CPU went at saturation, and so what limits end-to-end throughput."""
    saturated = outcome["saturated"]
    cpu = saturated["cpu_percent"]
    system = saturated.get("system_cpu_percent") or sum(cpu.values())
    other = max(system - sum(cpu.values()), 0.0)
    parts = {**cpu, "other (kernel, rest of the host)": other}
    per_upload = cpu_per_upload(outcome)
    total_ms = sum(per_upload.values()) if per_upload else 0
    return {
        "system": system,
        "parts": parts,
        "top": max(parts, key=parts.get),
        "forward_busy": saturated.get("forward_busy_percent") or 0,
        "per_upload": per_upload,
        "total_ms": total_ms,
        "max_uploads_per_second": 2000 / total_ms if total_ms else None,
        "cores_full": system > 185,
        "web_near_one_core": cpu.get("web", 0) > 85,
        "other": other if other > 20 else None,
    }


def ratio_ceiling(outcome: dict) -> dict | None:
    """Why (2)/(1) is what it is when the model alone already keeps every core busy."""
    per_upload = cpu_per_upload(outcome)
    if not per_upload:
        return None
    model_ms = per_upload[MODEL_CPU]
    rest_ms = sum(per_upload.values()) - model_ms
    target = TARGETS["end_to_end_over_forward"]
    return {
        "cores_busy": outcome["forward"].get("cores_busy", 0),
        "model_ms": model_ms,
        "rest_ms": rest_ms,
        "total_ms": model_ms + rest_ms,
        "ceiling": model_ms / (model_ms + rest_ms),
        "allowed_ms": model_ms * (1 - target) / target,
        "web_ms": per_upload["web"],
    }


def targets_check(outcome: dict) -> dict:
    """The ResNet50 figures against TARGETS."""
    saturated, single = outcome["saturated"], outcome["single_user"]
    ratio = outcome["ratios"]["end_to_end_over_forward"]
    worker_rss = saturated["rss_mb_per_process"].get("workers") or 0
    web_rss = saturated["rss_mb_per_process"].get("web") or 0
    return {
        "ratio": ratio,
        "ratio_met": ratio >= TARGETS["end_to_end_over_forward"],
        "ceiling": ratio_ceiling(outcome),
        "saturated": saturated,
        "saturated_met": saturated["images_per_second"] >= TARGETS["saturated_images_per_second"]
        and saturated["failures"] == 0,
        "single": single,
        "forward_ms": outcome["forward"]["single_image_ms_median"],
        "margin_met": outcome["ratios"]["single_user_p50_minus_forward_ms"]
        <= TARGETS["single_user_margin_ms"],
        "bentoml_met": single["p50_ms"] < REFERENCE["bentoml"]["single_user_p50_ms"],
        "worker_rss": worker_rss,
        "worker_met": worker_rss <= TARGETS["worker_rss_gb"] * 1024,
        "web_rss": web_rss,
        "web_met": web_rss <= TARGETS["web_rss_mb"],
    }


def forward_rows(outcome: dict) -> list[dict]:
    """The raw-forward runs (before and after the load runs, when there are two) and their mean."""
    runs = outcome.get("forward_runs") or [outcome["forward"]]
    labels = ["before (2)", "after (4)"] if len(runs) == 2 else ["run"]
    rows = [{**run, "label": label} for label, run in zip(labels, runs, strict=True)]
    if len(runs) > 1:
        rows.append({**outcome["forward"], "label": "**mean (used for the ratios)**"})
    return rows


def cpu_ms_per_request(phase: dict, group: str) -> str:
    requests = phase["requests"]
    if not requests or group not in phase["cpu_percent"]:
        return "–"
    return f"{phase['cpu_percent'][group] * phase['window_seconds'] / 100 / requests * 1000:.1f}"


def http_rows(outcome: dict) -> list[dict]:
    phases = (
        (f"(2) {outcome['saturated']['clients']} clients", outcome["saturated"]),
        (f"(3) {outcome['unbatched']['clients']} clients, batch 1", outcome["unbatched"]),
        ("(4) 1 client", outcome["single_user"]),
    )
    groups = ("web", "workers", "postgres", "redis", "load generator")
    return [
        {**phase, "label": label, "cpu_ms": [cpu_ms_per_request(phase, g) for g in groups]}
        for label, phase in phases
    ]


def model_context(name: str, outcome: dict) -> dict:
    """One model's figures in bench.json, with what the documents derive from them."""
    per_upload = cpu_per_upload(outcome) or {}
    total_ms = sum(per_upload.values())
    return {
        **outcome,
        "name": name,
        "forward_rows": forward_rows(outcome),
        "http_rows": http_rows(outcome),
        "bound": cpu_bound(outcome),
        "rss": {
            key.replace(" ", "_"): mb
            for key, mb in outcome["saturated"]["rss_mb_per_process"].items()
        },
        "targets": targets_check(outcome) if name == "resnet50" else None,
        "model_share": {
            "model_ms": per_upload.get(MODEL_CPU, 0.0),
            "total_ms": total_ms,
            "percent": 100 * per_upload.get(MODEL_CPU, 0.0) / total_ms,
            "web_ms": per_upload["web"],
        }
        if total_ms
        else None,
    }


def web_steps_context(results: dict) -> dict | None:
    steps = results.get("web_steps")
    if not steps:
        return None
    served = [
        outcome["saturated"]["web_cpu_ms_per_request"]
        for outcome in results["models"].values()
        if outcome["saturated"].get("web_cpu_ms_per_request")
    ]
    rows = [(label.replace("  ", "↳ ", 1), ms) for label, ms in steps["steps_ms"].items()]
    return {**steps, "rows": rows, "served": (min(served), max(served)) if served else None}


def pipeline_context(results: dict) -> dict:
    models = {name: model_context(name, outcome) for name, outcome in results["models"].items()}
    return {
        **results,
        "models": models,
        "resnet": models.get("resnet50"),
        "lite": models.get("efficientnet_lite0"),
        "steps": web_steps_context(results),
        "targets_ref": {**TARGETS, "bentoml_ms": REFERENCE["bentoml"]["single_user_p50_ms"]},
        "load_end": results.get("load_average_end", [float("nan")])[0],
    }


def runtimes_section(path: Path) -> str:
    """The runtimes' section (python -m benchmarks.bench_runtimes) is a separate run: kept."""
    start_marker, end_marker = RUNTIMES_SECTION
    previous = path.read_text() if path.exists() else ""
    start = previous.find(start_marker)
    end = previous.find(end_marker, start)
    if start == -1 or end == -1:
        return ""
    return "\n" + previous[start : end + len(end_marker)] + "\n"


def write_benchmark_doc(results: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render("benchmark_pipeline.md", {"bench": pipeline_context(results)})
    path.write_text(text + runtimes_section(path))
    return path
