"""Turn load-test results into docs/STRESS_TEST_REPORT.md and its charts.

    .venv/bin/python -m loadtests.report              # newest runs in loadtests/results
    .venv/bin/python -m loadtests.report loadtests/results/RUN --bench benchmarks/results/RUN

Reads what `run_scenarios.py` wrote (run.json, summary.csv, <scenario>/result.json) and,
if given or found, what `benchmarks/bench_pipeline.py` wrote (bench.json), whose document
(docs/BENCHMARK_PIPELINE.md) it rewrites too. The functions here only compute figures; the
prose is in `loadtests/templates/` (and `benchmarks/templates/` for the shared parts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks.load import REPO_ROOT
from benchmarks.load import RESULTS_DIR as BENCH_RESULTS_DIR
from benchmarks.load.markdown import TEMPLATES as BENCH_TEMPLATES
from benchmarks.load.markdown import render
from benchmarks.pipeline_doc import REFERENCE, pipeline_context, write_benchmark_doc

DOCS_DIR = REPO_ROOT / "docs"
HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
TEMPLATE_DIRS = (HERE / "templates", BENCH_TEMPLATES)
DEFAULT_THINK_SECONDS = "0.5–2"  # the locustfile's default pause; older runs did not record it
WORKER_PAIRS = (("seed-10u-1w", "seed-10u-2w"), ("seed-25u-1w", "seed-25u-2w"),
                ("seed-50u-2w", "seed-50u-3w"))  # fmt: skip


# --- reading results -------------------------------------------------------------------------


def newest_run(
    prefix: str = "", marker: str = "summary.csv", results: Path = RESULTS_DIR
) -> Path | None:
    candidates = [
        path.parent
        for path in results.glob(f"{prefix}*/{marker}")
        if not path.parent.name.startswith("smoke")
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    run = json.loads((run_dir / "run.json").read_text())
    paths = (run_dir / name / "result.json" for name in run["scenarios"])
    return run, [json.loads(path.read_text()) for path in paths if path.exists()]


def rows_of(results: list[dict], group: str) -> list[dict]:
    return [r["summary"] for r in results if r["summary"]["group"] == group]


# --- charts ----------------------------------------------------------------------------------


def bars_per_scenario(ax, rows: list[dict], series: dict[str, list], ylabel: str, title: str):
    """Side-by-side bars, one group per scenario."""
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series.items()):
        offset = (index - (len(series) - 1) / 2) * width
        ax.bar([i + offset for i in range(len(rows))], values, width, label=label)
    ax.set_xticks(range(len(rows)), [r["scenario"] for r in rows], rotation=20, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)


def chart_throughput(ax, rows: list[dict]) -> None:
    series = {
        "all requests/s": [r["rps"] or 0 for r in rows],
        "images classified/s": [images_per_second(r) for r in rows],
    }
    bars_per_scenario(ax, rows, series, "per second", "Throughput per scenario")


def latency_seconds(rows: list[dict]) -> dict[str, list[float]]:
    return {p: [(r[f"upload_{p}_ms"] or 0) / 1000 for r in rows] for p in ("p50", "p95", "p99")}


def chart_latency(ax, rows: list[dict]) -> None:
    title = "Upload latency (new photo, answered with the result) per scenario"
    bars_per_scenario(ax, rows, latency_seconds(rows), "seconds", title)


def chart_batch_size(ax, rows: list[dict]) -> None:
    sizes = [r["batch_size"] for r in rows]
    for label, values in latency_seconds(rows).items():
        ax.plot(sizes, values, marker="o", label=f"latency {label}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set(xlabel="--batch-size", ylabel="upload latency (s)", ylim=(0, None))
    ax.set_title(f"Batch size: {rows[0]['users']} users, {rows[0]['workers']} workers")
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    images = [images_per_second(r) for r in rows]
    twin.plot(sizes, images, color="black", linestyle="--", marker="s", label="images/s")
    twin.set(ylabel="images classified/s", ylim=(0, None))
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper left", bbox_to_anchor=(1.12, 1.0))


def chart_workers(ax, rows: list[dict]) -> None:
    for users in sorted({r["users"] for r in rows}):
        points = sorted((r["workers"], images_per_second(r)) for r in rows if r["users"] == users)
        ax.plot(*zip(*points, strict=True), marker="o", label=f"{users} users")
    ax.set_xticks(sorted({r["workers"] for r in rows}))
    ax.set(xlabel="model workers", ylabel="images classified/s", ylim=(0, None))
    ax.set_title("Throughput vs number of workers (2 cores)")
    ax.legend()
    ax.grid(alpha=0.3)


def chart_cpu(ax, results: list[dict]) -> None:
    """Each scenario's CPU % per process group stacked, and what the host spent besides."""
    groups = ("workers", "web", "postgres", "locust", "redis")
    resources = [result.get("resources") or {} for result in results]
    parts = {g: [r.get("groups", {}).get(g, {}).get("cpu_percent", 0.0) for r in resources]
             for g in groups}  # fmt: skip
    known = [sum(values) for values in zip(*parts.values(), strict=True)]
    parts["other (kernel, rest of the host)"] = [
        max((r.get("system_cpu_percent") or k) - k, 0.0)
        for r, k in zip(resources, known, strict=True)
    ]
    names = [result["summary"]["scenario"] for result in results]
    bottom = [0.0] * len(names)
    for label, values in parts.items():
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.axhline(200, color="black", linewidth=0.8, linestyle=":")
    ax.set(ylabel="CPU % (200 % = both cores)", title="Where the CPU went")
    ax.tick_params(axis="x", rotation=20)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def draw_charts(results: list[dict], seed: list[dict], batching: list[dict], charts_dir: Path,
                relative: Path) -> list[dict]:  # fmt: skip
    """Draw the charts that have data; their titles and paths relative to the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main_rows = seed or [r["summary"] for r in results]
    several_worker_counts = len({r["workers"] for r in seed}) > 1
    planned = (
        ("throughput_per_scenario.png", "Throughput per scenario", chart_throughput, main_rows),
        ("latency_per_scenario.png", "Upload latency per scenario", chart_latency, main_rows),
        ("latency_vs_batch_size.png", "Latency and throughput vs batch size", chart_batch_size,
         batching),
        ("throughput_vs_workers.png", "Throughput vs workers", chart_workers,
         seed if several_worker_counts else []),
        ("cpu_per_scenario.png", "CPU by process", chart_cpu, results),
    )  # fmt: skip
    charts_dir.mkdir(parents=True, exist_ok=True)
    charts = []
    for name, title, draw, data in planned:
        if data:
            width = {"throughput_vs_workers.png": 7, "cpu_per_scenario.png": 11}.get(name, 9)
            fig, ax = plt.subplots(figsize=(width, 4))
            draw(ax, data)
            fig.tight_layout()
            fig.savefig(charts_dir / name, dpi=110)
            plt.close(fig)
            charts.append({"title": title, "path": str(relative / name)})
    return charts


# --- figures for the stress-test report ------------------------------------------------------


def mean_think_seconds(row: dict) -> float:
    """Mean pause between a simulated user's tasks in a scenario (uniform in [min, max])."""
    low, high = (float(s) for s in (row.get("think_seconds") or DEFAULT_THINK_SECONDS).split("–"))
    return (low + high) / 2


def images_per_second(row: dict) -> float:
    return row["model_images_per_second"] or 0


def percent_change(new: float | None, old: float | None) -> str:
    if not new or not old:
        return "–"
    return f"{100 * (new - old) / old:+.0f} %"


def good_batch_sizes(batching: list[dict]) -> list[dict]:
    """Batch sizes whose throughput is within 5 % of the best: differences below run noise."""
    best = max(images_per_second(r) for r in batching)
    return [r for r in batching if images_per_second(r) >= 0.95 * best]


def littles_law(rows: list[dict]) -> list[dict]:
    """Closed loop: mean response time = users ÷ requests/s − mean pause, where it applies."""
    saturated = [
        r
        for r in rows
        if r.get("mean_ms")
        and r["rps"]
        and ((r["mean_batch_size"] or 0) >= 4 or r.get("think_seconds") == "0–0")
    ]
    return [
        {
            **r,
            "pause": mean_think_seconds(r),
            "predicted_s": r["users"] / r["rps"] - mean_think_seconds(r),
            "measured_s": r["mean_ms"] / 1000,
        }
        for r in saturated
    ]


def seed_findings(seed: list[dict], batching: list[dict]) -> dict | None:
    if not seed:
        return None
    named = {r["scenario"]: r for r in seed}
    busiest = max(seed, key=lambda r: r.get("forward_busy_percent") or 0)
    pairs = [
        {
            "one": named[one],
            "two": named[two],
            "change": percent_change(
                named[two]["model_images_per_second"], named[one]["model_images_per_second"]
            ),
        }
        for one, two in WORKER_PAIRS
        if one in named and two in named
    ]
    return {
        "best": max(seed, key=images_per_second),
        "busiest": busiest,
        "below_capacity": (busiest.get("forward_busy_percent") or 0) < 80,
        "failures": sum(r["failures"] for r in seed),
        "requests": sum(r["requests"] for r in seed),
        "littles_law": littles_law(seed + batching),
        "worker_pairs": pairs,
    }


def batching_findings(batching: list[dict]) -> dict | None:
    if not batching:
        return None
    one = next((r for r in batching if r["batch_size"] == 1), None)
    best = max(batching, key=images_per_second)
    good = good_batch_sizes(batching)
    return {
        "best": best,
        "over_batch_1": images_per_second(best) / (one["model_images_per_second"] or 1)
        if one
        else None,
        "good": good,
        "lowest_p95": min(good, key=lambda r: r["upload_p95_ms"] or float("inf")),
    }


def workers_advice(seed: list[dict]) -> dict | None:
    """Whether a third worker beat two at 50 users by more than run noise."""
    named = {r["scenario"]: r for r in seed}
    if "seed-50u-2w" not in named or "seed-50u-3w" not in named:
        return None
    two, three = named["seed-50u-2w"], named["seed-50u-3w"]
    better = images_per_second(three) > images_per_second(two) * 1.05
    return {"count": "3" if better else "1–2", "rss_mb": two["worker_rss_mb_per_process"]}


def stress_context(run: dict, results: list[dict], bench: dict | None, charts: list[dict]) -> dict:
    summaries = [r["summary"] for r in results]
    seed = rows_of(results, "seed")
    batching = sorted(rows_of(results, "batching"), key=lambda r: r["batch_size"])
    max_wait = rows_of(results, "max-wait")
    loads = [r["load_average"] for r in summaries if r.get("load_average")]
    named = {r["scenario"]: r for r in seed}
    saturated = next((r for r in batching if r["scenario"] == "batch-16"), None)
    return {
        "run": run,
        "bench": bench,
        "default_think": DEFAULT_THINK_SECONDS,
        "packages": ", ".join(f"{k} {v}" for k, v in run["packages"].items()),
        "load_range": (min(loads), max(loads)) if loads else None,
        "web_threads": results[0].get("web_threads") if results else None,
        "tables": {
            "seed": seed,
            "batching": batching,
            "max_wait": max_wait,
            "others": [r for r in summaries if r["group"] not in ("seed", "batching", "max-wait")],
        },
        "charts": charts,
        "ref": REFERENCE,
        "ours_10": named.get("seed-10u-1w"),
        "ours_50": named.get("seed-50u-2w"),
        "saturated": saturated if saturated and saturated.get("think_seconds") == "0–0" else None,
        "seed_findings": seed_findings(seed, batching),
        "batching": batching_findings(batching),
        "max_wait": sorted(max_wait, key=lambda r: r.get("max_wait_ms") or 0),
        "workers_advice": workers_advice(seed),
        "pipeline": pipeline_context(bench) if bench else None,
        "optimisations": REFERENCE["optimisations"],
    }


def render_report(
    run_dir: Path, output: Path, charts_dir: Path, bench_dir: Path | None = None
) -> Path:
    run, results = load_run(run_dir)
    bench = json.loads((bench_dir / "bench.json").read_text()) if bench_dir else None
    output.parent.mkdir(parents=True, exist_ok=True)
    relative = Path(os.path.relpath(charts_dir, output.parent))
    seed = rows_of(results, "seed")
    batching = sorted(rows_of(results, "batching"), key=lambda r: r["batch_size"])
    charts = draw_charts(results, seed, batching, charts_dir, relative)
    context = stress_context(run, results, bench, charts)
    output.write_text(render("stress_test_report.md", context, TEMPLATE_DIRS))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="default: newest scenario run")
    parser.add_argument("--bench", type=Path, help="a bench_pipeline.py run (default: newest)")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--output", type=Path, default=DOCS_DIR / "STRESS_TEST_REPORT.md")
    parser.add_argument("--charts", type=Path, default=DOCS_DIR / "charts")
    parser.add_argument("--bench-doc", type=Path, default=DOCS_DIR / "BENCHMARK_PIPELINE.md",
                        help="rewritten from the benchmark run too")  # fmt: skip
    args = parser.parse_args(argv)
    run_dir = args.run_dir or newest_run()
    if run_dir is None:
        parser.error("no results yet: run loadtests/run_scenarios.py first")
    bench_dir = (
        None
        if args.no_bench
        else (args.bench or newest_run("bench-", "bench.json", BENCH_RESULTS_DIR))
    )
    output = render_report(run_dir, args.output, args.charts, bench_dir)
    print(f"Wrote {output} (charts in {args.charts})")
    if bench_dir:
        bench = json.loads((bench_dir / "bench.json").read_text())
        print(f"Wrote {write_benchmark_doc(bench, args.bench_doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
