"""Turn load-test results into docs/STRESS_TEST_REPORT.md and its charts.

    .venv/bin/python -m loadtests.report                         # newest runs in loadtests/results
    .venv/bin/python -m loadtests.report loadtests/results/RUN --bench loadtests/results/bench-RUN

Reads what `run_scenarios.py` wrote (run.json, summary.csv, <scenario>/result.json) and,
if given or found, what `bench_pipeline.py` wrote (bench.json). Every number in the
report comes from those files; the figures it did not measure (the older system, BentoML,
the before/after of each optimisation) are data with their provenance in
`loadtests/data/reference_figures.json`.
`bench_pipeline.py` calls `write_benchmark_doc` for docs/BENCHMARK_PIPELINE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtests.common import REPO_ROOT, RESULTS_DIR, fmt

DOCS_DIR = REPO_ROOT / "docs"

# Figures this code did not measure (the older system, BentoML) and the before/after
# figures of each optimisation: data, with their provenance, in loadtests/data/.
REFERENCE_FIGURES = json.loads(
    (Path(__file__).resolve().parent / "data" / "reference_figures.json").read_text()
)
OLDER_SYSTEM: dict = REFERENCE_FIGURES["older_system"]
BENTOML: dict = REFERENCE_FIGURES["bentoml"]
DIRECT_FORWARD: dict = REFERENCE_FIGURES["direct_forward_images_per_second"]
DEFAULT_THINK_SECONDS = "0.5–2"  # the locustfile's default pause; older runs did not record it


def mean_think_seconds(row: dict) -> float:
    """Mean pause between a simulated user's tasks in a scenario (uniform in [min, max])."""
    low, high = (
        float(part) for part in (row.get("think_seconds") or DEFAULT_THINK_SECONDS).split("–")
    )
    return (low + high) / 2


@dataclass(frozen=True)
class Optimisation:
    change: str
    measured_with: str
    before: str
    after: str
    commit: str


OPTIMISATIONS: tuple[Optimisation, ...] = tuple(
    Optimisation(**row) for row in REFERENCE_FIGURES["optimisations"]
)


# --- reading results -------------------------------------------------------------------------


def newest_run(prefix: str = "", marker: str = "summary.csv") -> Path | None:
    candidates = [
        path.parent
        for path in RESULTS_DIR.glob(f"{prefix}*/{marker}")
        if not path.parent.name.startswith("smoke")
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    run = json.loads((run_dir / "run.json").read_text())
    results = []
    for name in run["scenarios"]:
        path = run_dir / name / "result.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    return run, results


def rows_of(results: list[dict], group: str) -> list[dict]:
    return [r["summary"] for r in results if r["summary"]["group"] == group]


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- charts ----------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish_bar_chart(fig, ax, names: list[str], ylabel: str, title: str, path: Path) -> None:
    """Scenario names under the bars, labels, legend, grid; save and close."""
    ax.set_xticks(list(range(len(names))), names, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def chart_throughput(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    names = [r["scenario"] for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar([i - 0.2 for i in x], [r["rps"] or 0 for r in rows], 0.4, label="all requests/s")
    ax.bar(
        [i + 0.2 for i in x],
        [r["model_images_per_second"] or 0 for r in rows],
        0.4,
        label="images classified/s",
    )
    finish_bar_chart(fig, ax, names, "per second", "Throughput per scenario", path)


def chart_latency(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    names = [r["scenario"] for r in rows]
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(9, 4))
    for offset, key, label in (
        (-0.27, "upload_p50_ms", "p50"),
        (0.0, "upload_p95_ms", "p95"),
        (0.27, "upload_p99_ms", "p99"),
    ):
        ax.bar([i + offset for i in x], [(r[key] or 0) / 1000 for r in rows], 0.27, label=label)
    title = "Upload latency (new photo, answered with the result) per scenario"
    finish_bar_chart(fig, ax, names, "seconds", title, path)


def chart_batch_size(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    sizes = [r["batch_size"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4))
    for key, label in (
        ("upload_p50_ms", "p50"),
        ("upload_p95_ms", "p95"),
        ("upload_p99_ms", "p99"),
    ):
        ax.plot(sizes, [(r[key] or 0) / 1000 for r in rows], marker="o", label=f"latency {label}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("--batch-size")
    ax.set_ylabel("upload latency (s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    twin.plot(
        sizes,
        [r["model_images_per_second"] or 0 for r in rows],
        color="black",
        linestyle="--",
        marker="s",
        label="images/s",
    )
    twin.set_ylabel("images classified/s")
    twin.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", bbox_to_anchor=(1.12, 1.0))
    ax.set_title(f"Batch size: {rows[0]['users']} users, {rows[0]['workers']} workers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_workers(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for users in sorted({r["users"] for r in rows}):
        points = sorted(
            (r["workers"], r["model_images_per_second"] or 0) for r in rows if r["users"] == users
        )
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{users} users")
    ax.set_xticks(sorted({r["workers"] for r in rows}))
    ax.set_xlabel("model workers")
    ax.set_ylabel("images classified/s")
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput vs number of workers (2 cores)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_cpu(results: list[dict], path: Path) -> None:
    plt = _pyplot()
    names = []
    parts = {"workers": [], "web": [], "postgres": [], "locust": [], "redis": [], "other": []}
    for result in results:
        resources = result.get("resources") or {}
        groups = resources.get("groups", {})
        names.append(result["summary"]["scenario"])
        known = 0.0
        for key in ("workers", "web", "postgres", "locust", "redis"):
            value = groups.get(key, {}).get("cpu_percent", 0.0)
            parts[key].append(value)
            known += value
        parts["other"].append(max((resources.get("system_cpu_percent") or known) - known, 0.0))
    fig, ax = plt.subplots(figsize=(11, 4))
    bottom = [0.0] * len(names)
    for key, values in parts.items():
        label = "other (kernel, rest of the host)" if key == "other" else key
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.axhline(200, color="black", linewidth=0.8, linestyle=":")
    ax.set_ylabel("CPU % (200 % = both cores)")
    ax.set_title("Where the CPU went")
    ax.tick_params(axis="x", rotation=20)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- the report ------------------------------------------------------------------------------


def scenario_table(rows: list[dict]) -> str:
    headers = [
        "scenario", "users", "pause (s)", "workers", "batch", "max wait", "requests", "failed",
        "req/s", "uploads p50 / p95 / p99 (ms)", "images/s", "mean batch", "workers in forward",
        "web CPU", "web CPU/req",
        "worker CPU", "RSS web / worker (MB)", "locust CPU",
    ]  # fmt: skip
    body = [
        [
            r["scenario"],
            r["users"],
            r.get("think_seconds") or DEFAULT_THINK_SECONDS,
            r["workers"],
            r["batch_size"],
            fmt(r.get("max_wait_ms"), 0, " ms"),
            r["requests"],
            f"{r['failures']} ({fmt(r['failure_percent'], 1)} %)",
            fmt(r["rps"], 1),
            f"{fmt(r['upload_p50_ms'], 0)} / {fmt(r['upload_p95_ms'], 0)} / "
            f"{fmt(r['upload_p99_ms'], 0)}",
            fmt(r["model_images_per_second"], 1),
            fmt(r["mean_batch_size"], 1),
            fmt(r.get("forward_busy_percent"), 0, " %"),
            fmt(r["web_cpu_percent"], 0, " %"),
            fmt(r["web_cpu_ms_per_request"], 1, " ms"),
            fmt(r["worker_cpu_percent"], 0, " %"),
            f"{fmt(r['web_rss_mb_per_process'], 0)} / {fmt(r['worker_rss_mb_per_process'], 0)}",
            fmt(r["locust_cpu_percent"], 0, " %"),
        ]
        for r in rows
    ]
    return table(headers, body)


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["scenario"]: r for r in rows}


def percent_change(new, old) -> str:
    if not new or not old:
        return "–"
    return f"{100 * (new - old) / old:+.0f} %"


def analysis(seed: list[dict], batching: list[dict], max_wait: list[dict]) -> list[str]:
    """Observations computed from the figures (each sentence states the numbers it rests on)."""
    notes = []
    named = by_name(seed)
    if seed:
        best = max(seed, key=lambda r: r["model_images_per_second"] or 0)
        busiest = max(seed, key=lambda r: r.get("forward_busy_percent") or 0)
        failures = sum(r["failures"] for r in seed)
        requests = sum(r["requests"] for r in seed)
        if (busiest.get("forward_busy_percent") or 0) < 80:
            progression = ", ".join(
                f"{r['scenario']} {fmt(r['model_images_per_second'])} img/s "
                f"(p50 {fmt(r['upload_p50_ms'], 0)} ms)"
                for r in seed
            )
            notes.append(
                "**The seed scenarios stay below capacity.** Their users pause "
                f"{seed[0].get('think_seconds') or DEFAULT_THINK_SECONDS} s between tasks, and "
                "the workers were in a forward pass at most "
                f"{fmt(busiest.get('forward_busy_percent'), 0)} % of the time "
                f"({busiest['scenario']}): throughput followed the users' pace ({progression}) "
                f"and {failures} of {requests} requests failed. What the system can do at "
                "saturation is in the batch-size comparison below (no pauses) and in the "
                "pipeline benchmark."
            )
        else:
            notes.append(
                f"**Capacity.** The most images classified per second in the seed scenarios "
                f"was {fmt(best['model_images_per_second'])} ({best['scenario']}). Across all "
                f"six, {failures} of {requests} requests failed."
            )
        saturated = [
            r
            for r in seed + batching
            if r.get("mean_ms")
            and ((r["mean_batch_size"] or 0) >= 4 or r.get("think_seconds") == "0–0")
        ]
        if saturated:
            lines = "; ".join(
                f"{r['scenario']}: {r['users']} ÷ {fmt(r['rps'])} req/s − "
                f"{mean_think_seconds(r):g} s "
                f"= {fmt(r['users'] / r['rps'] - mean_think_seconds(r), 1)} s predicted, "
                f"{fmt(r['mean_ms'] / 1000, 1)} s measured"
                for r in saturated
                if r["rps"]
            )
            notes.append(
                "**Latency under load is queueing, not work.** The users form a closed loop, so "
                "by Little's law the mean response time is users ÷ requests/s minus the mean "
                f"pause: {lines}. Once the model is the bottleneck, "
                "more users only lengthen the queue; lower latency needs more model throughput "
                "or fewer users, not a faster web tier."
            )
        pairs = [
            ("seed-10u-1w", "seed-10u-2w"),
            ("seed-25u-1w", "seed-25u-2w"),
            ("seed-50u-2w", "seed-50u-3w"),
        ]
        worker_lines = []
        for one, two in pairs:
            if one in named and two in named:
                a, b = named[one], named[two]
                worker_lines.append(
                    f"{a['users']} users, {a['workers']}→{b['workers']} workers: images/s "
                    f"{fmt(a['model_images_per_second'])}→{fmt(b['model_images_per_second'])} "
                    f"({percent_change(b['model_images_per_second'], a['model_images_per_second'])}"
                    "), "
                    f"upload p50 {fmt(a['upload_p50_ms'], 0)}→{fmt(b['upload_p50_ms'], 0)} ms, "
                    f"worker RSS {fmt(a['worker_rss_mb_per_process'], 0)} MB each"
                )
        if worker_lines:
            notes.append(
                "**More workers on two cores.** " + "; ".join(worker_lines) + ". Each worker gets "
                "cores ÷ workers TensorFlow threads, so extra workers only overlap one worker's "
                "non-model work (decode, database, Redis) with another's forward pass; they cannot "
                "add compute, and each one costs another copy of the model in memory."
            )
    if batching:
        one = next((r for r in batching if r["batch_size"] == 1), None)
        best = max(batching, key=lambda r: r["model_images_per_second"] or 0)
        good = good_batch_sizes(batching)
        formed = ", ".join(f"{r['batch_size']}→{fmt(r['mean_batch_size'])}" for r in batching)
        text = (
            f"**Batching.** With {batching[0]['users']} users and {batching[0]['workers']} "
            f"workers, the best throughput was at --batch-size {best['batch_size']} "
            f"({fmt(best['model_images_per_second'])} img/s"
        )
        if one:
            ratio = (best["model_images_per_second"] or 0) / (one["model_images_per_second"] or 1)
            text += f", {ratio:.2f}× batch size 1"
        text += (
            "); within 5 % of it: "
            + ", ".join(
                f"{r['batch_size']} ({fmt(r['model_images_per_second'])} img/s, p95 "
                f"{fmt(r['upload_p95_ms'], 0)} ms)"
                for r in good
            )
            + f". Mean batch actually formed (configured→formed): {formed}. A worker can only "
            "batch what is waiting: N users split over W workers leave at most N/W jobs per "
            "worker, and while one batch is in the forward pass the worker is already preparing "
            "the next from the same jobs, so about N/(2W) per batch; larger sizes are never "
            "filled."
        )
        notes.append(text)
    if max_wait:
        lines = ", ".join(
            f"{fmt(r.get('max_wait_ms'), 0)} ms: p50 {fmt(r['upload_p50_ms'], 0)} ms, mean batch "
            f"{fmt(r['mean_batch_size'])}, {fmt(r['model_images_per_second'])} img/s"
            for r in sorted(max_wait, key=lambda r: r.get("max_wait_ms") or 0)
        )
        notes.append(
            "**Max wait.** How long an idle worker waits for more jobs after the first one, at "
            f"{max_wait[0]['users']} users / {max_wait[0]['workers']} worker: {lines}. Once the "
            "worker is busy, jobs pile up during the forward pass and batches form without "
            "waiting; the wait only matters when the worker was idle, where it is pure latency "
            "unless other uploads arrive within it."
        )
    return notes


def good_batch_sizes(batching: list[dict]) -> list[dict]:
    """Batch sizes whose throughput is within 5 % of the best: differences below run noise."""
    best = max(r["model_images_per_second"] or 0 for r in batching)
    return [r for r in batching if (r["model_images_per_second"] or 0) >= 0.95 * best]


def comparison_rows(seed: list[dict], bench: dict | None, batching: list[dict]) -> list[list]:
    named = by_name(seed)
    rows = []

    def ours(name: str, key: str, digits=1):
        return fmt(named[name][key], digits) if name in named else "–"

    rows.append(
        [
            "images/s, 10 users",
            f"{OLDER_SYSTEM['images_per_second']}",
            f"{BENTOML['10']}",
            f"{ours('seed-10u-1w', 'model_images_per_second')} (1 worker)",
        ]
    )
    rows.append(
        [
            "images/s, 50 users",
            f"{OLDER_SYSTEM['images_per_second']}",
            f"{BENTOML['50']}",
            f"{ours('seed-50u-2w', 'model_images_per_second')} (2 workers)",
        ]
    )
    rows.append(
        [
            "upload p50, 10 users",
            f"{OLDER_SYSTEM['p50_ms_10_users']} ms",
            "–",
            f"{ours('seed-10u-1w', 'upload_p50_ms', 0)} ms",
        ]
    )
    rows.append(
        [
            "upload p50, 50 users",
            f"{OLDER_SYSTEM['p50_ms_50_users']} ms",
            "–",
            f"{ours('seed-50u-2w', 'upload_p50_ms', 0)} ms",
        ]
    )
    rows.append(
        [
            "failures, 50 users",
            f"{OLDER_SYSTEM['failure_percent_50_users']} %",
            "0 %",
            f"{ours('seed-50u-2w', 'failure_percent', 1)} %",
        ]
    )
    saturated = by_name(batching).get("batch-16")
    if saturated and saturated.get("think_seconds") == "0–0":
        rows.append(
            [
                f"saturated, {saturated['users']} users, {saturated['workers']} workers",
                "–",
                "–",
                f"{fmt(saturated['model_images_per_second'])} img/s, "
                f"{fmt(saturated['failure_percent'], 1)} % failed (batch-16)",
            ]
        )
    resnet = (bench or {}).get("models", {}).get("resnet50")
    if resnet:
        rows.append(
            [
                "single user p50",
                f"{OLDER_SYSTEM['single_user_p50_ms']} ms",
                f"{BENTOML['single_user_p50_ms']} ms",
                f"{fmt(resnet['single_user']['p50_ms'], 0)} ms (bench)",
            ]
        )
        rows.append(
            [
                "saturated, 50 clients, 1 worker",
                "–",
                f"{BENTOML['50']} img/s",
                f"{fmt(resnet['saturated']['images_per_second'])} img/s (bench)",
            ]
        )
    return rows


def recommendations(seed, batching, max_wait, bench) -> list[str]:
    advice = []
    if batching:
        good = good_batch_sizes(batching)
        choice = min(good, key=lambda r: r["upload_p95_ms"] or float("inf"))
        advice.append(
            f"Batch size: {', '.join(str(r['batch_size']) for r in good)} gave throughput within "
            f"5 % of the best here; of those, {choice['batch_size']} had the lowest p95. Keep "
            "the batch size near the number of uploads a worker sees at once (users ÷ workers "
            "÷ 2): bigger batches are never filled and only raise the tail latency."
        )
    if seed:
        named = by_name(seed)
        if "seed-50u-2w" in named and "seed-50u-3w" in named:
            a, b = named["seed-50u-2w"], named["seed-50u-3w"]
            better = (
                "3"
                if (b["model_images_per_second"] or 0) > (a["model_images_per_second"] or 0) * 1.05
                else "1–2"
            )
            advice.append(
                f"Workers: on this 2-core host, {better} worker(s); a worker is ~"
                f"{fmt(a['worker_rss_mb_per_process'], 0)} MB resident. Add workers with cores, "
                "and set TF_INTRA_OP_THREADS = cores ÷ workers (the scenario runner does)."
            )
        advice.append(
            "Web: one gunicorn process with at least as many threads as concurrent uploads "
            "(a thread is held while the upload waits for its result); the runs used "
            "64 threads and every web process stayed far below 250 MB."
        )
    if max_wait:
        advice.append(
            "Max wait: keep it small (0–10 ms). Under load batches form without it; at low load "
            "it is added to every upload."
        )
    if bench and "efficientnet_lite0" in bench.get("models", {}):
        advice.append(
            "Model: EfficientNet-Lite0 moves the bottleneck from the model to the web tier "
            "(see BENCHMARK_PIPELINE.md): an upload's web CPU costs more than its forward pass. "
            "On a host with spare cores, more gunicorn processes pay off before more workers; "
            "on these two cores, both are already full."
        )
    return advice


def render_report(
    run_dir: Path, output: Path, charts_dir: Path, bench_dir: Path | None = None
) -> Path:
    run, results = load_run(run_dir)
    bench = json.loads((bench_dir / "bench.json").read_text()) if bench_dir else None
    charts_dir.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    relative = Path(os.path.relpath(charts_dir, output.parent))
    summaries = [r["summary"] for r in results]
    seed = rows_of(results, "seed")
    batching = sorted(rows_of(results, "batching"), key=lambda r: r["batch_size"])
    max_wait = rows_of(results, "max-wait")
    charts: list[tuple[str, str]] = []

    def add_chart(name: str, title: str, draw, *data) -> None:
        draw(*data, charts_dir / name)
        charts.append((title, str(relative / name)))

    main_rows = seed or summaries
    add_chart("throughput_per_scenario.png", "Throughput per scenario", chart_throughput, main_rows)
    add_chart("latency_per_scenario.png", "Upload latency per scenario", chart_latency, main_rows)
    if batching:
        add_chart(
            "latency_vs_batch_size.png",
            "Latency and throughput vs batch size",
            chart_batch_size,
            batching,
        )
    if len({r["workers"] for r in seed}) > 1:
        add_chart("throughput_vs_workers.png", "Throughput vs workers", chart_workers, seed)
    add_chart("cpu_per_scenario.png", "CPU by process", chart_cpu, results)
    host = run["host"]
    loads = [r["summary"].get("load_average") for r in results if r["summary"].get("load_average")]
    lines = [
        "# Stress test report",
        "",
        f"Generated by `loadtests/report.py` from run `{run['run']}` (commit {run['git_commit']}, "
        f"{run['started']} → {run.get('finished', '?')}). Command:",
        "",
        f"    {run['command']}",
        "",
        "Regenerate the text and charts with `.venv/bin/python -m loadtests.report "
        f"loadtests/results/{run['run']}"
        + (f" --bench loadtests/results/{bench['run']}`." if bench else "`."),
        "",
        "## Set-up",
        "",
        table(
            ["", ""],
            [
                ["CPU", f"{host['cpu_model']}, {host['logical_cpus']} logical CPUs, no GPU"],
                ["Memory", f"{host['memory_gb']} GB"],
                ["OS / Python", f"{host['os']} / {host['python']}"],
                ["Packages", ", ".join(f"{k} {v}" for k, v in run["packages"].items())],
                ["Model", f"{run['model']} (random weights: same compute, meaningless labels)"],
                ["Web", run["web"] + ", DEBUG off, throttles lifted for the test accounts"],
                ["Database / Redis", f"PostgreSQL {run['database']} / {run['redis']}"],
                [
                    "Workers",
                    f"`run_model_worker`, TF_INTRA_OP_THREADS = cores ÷ workers, "
                    "TF_INTER_OP_THREADS = 1, max wait "
                    f"{fmt(run['max_wait_ms'], 0)} ms unless noted",
                ],
                [
                    "Load",
                    "Locust (`loadtests/locustfile.py`): 90 % `PhotoUploader` (new photo each "
                    "upload; feedback, history, home page now and then), 10 % `RepeatUploader` "
                    "(cache hits) in the seed scenarios; uploaders only in the others; "
                    "each user pauses between tasks as the “pause” column says (0–0: "
                    "the next request as soon as the answer comes)",
                ],
                [
                    "Window",
                    f"{fmt(run['duration_seconds'], 0)} s per scenario, measured from the "
                    "moment every user has logged in (log-ins excluded)",
                ],
                [
                    "Host load",
                    "1-min load average "
                    f"{fmt(min(loads), 1)}–{fmt(max(loads), 1)} during the windows (2 cores; "
                    "CPU left to other processes is in the CPU chart as “other”)"
                    if loads
                    else "not recorded",
                ],
            ],
        ),
        "",
        "Latency is what Locust saw for `POST /api/predictions/` with a new photo: the upload, "
        "validation, queueing, the batch's forward pass and the answer (201 with the top 5). "
        "“images/s” is what the workers classified in the window (`mlworker:stats`), "
        "“mean batch” is images ÷ forward passes, CPU is per process group from the kernel's "
        "counters (100 % = one core), RSS is the peak per process.",
        "",
    ]
    if seed:
        lines += ["## The six seed scenarios", "", scenario_table(seed), ""]
    if batching:
        lines += ["## Batch size", "", scenario_table(batching), ""]
    if max_wait:
        lines += ["## Max wait", "", scenario_table(max_wait), ""]
    others = [r for r in summaries if r["group"] not in ("seed", "batching", "max-wait")]
    if others:
        lines += ["## Other scenarios", "", scenario_table(others), ""]
    lines += ["## Charts", ""]
    for title, path in charts:
        lines += [f"![{title}]({path})", ""]
    lines += ["## Against the older system and BentoML", ""]
    lines += [
        "Reference figures from the issue (same machine, same ResNet50 with random weights); "
        "ours from this run and, where marked, from `bench_pipeline.py`.",
        "",
        table(
            ["", "older system", "BentoML (adaptive batching, max 16)", "this system"],
            comparison_rows(seed, bench, batching),
        ),
        "",
        "Our seed-scenario users pause between tasks, so at 10–50 users our images/s is "
        "their pace, not the system's capacity (see “workers in forward”); the rows marked "
        "saturated are clients sending back to back.",
        "",
    ]
    if bench:
        lines += pipeline_summary(bench)
    lines += ["## Analysis", ""]
    for note in analysis(seed, batching, max_wait):
        lines += [f"- {note}", ""]
    lines += [
        "## Trade-offs",
        "",
        "- **Throughput vs latency.** A batch's forward pass is shared by its images, so bigger "
        "batches raise throughput, but every image in a batch waits for the whole pass: the "
        "latency of an upload is at least one full batch's forward time. Batch size 1 gives the "
        "lowest latency to a lone user and the lowest throughput under load.",
        "- **Max wait.** Waiting after the first job of an idle worker trades a fixed delay for "
        "a chance at a bigger first batch. It cannot help a lone user and barely matters under "
        "load, where the queue fills during each forward pass.",
        "- **Workers vs memory.** Each worker holds its own model and TensorFlow runtime; on "
        "two cores more workers mostly overlap non-model work, at the price of that memory and "
        "of fewer TensorFlow threads each.",
        "- **Synchronous answers.** The upload request holds a web thread until its prediction "
        "is done, so web threads must cover the concurrent uploads; the wait is a blocking read "
        "on the job's result stream, costing no CPU while it waits.",
        "",
        "## Recommendations",
        "",
    ]
    lines += [f"- {item}" for item in recommendations(seed, batching, max_wait, bench)]
    lines += ["", "## What we changed for speed", ""]
    lines += [
        "Each change was measured before and after on this (shared, noisy) machine; the "
        "commit message holds the details.",
        "",
        table(
            ["change", "measured with", "before", "after", "commit"],
            [[o.change, o.measured_with, o.before, o.after, o.commit] for o in OPTIMISATIONS],
        ),
        "",
    ]
    output.write_text("\n".join(lines))
    return output


def pipeline_summary(bench: dict) -> list[str]:
    lines = [
        "## Pipeline overhead (bench_pipeline.py)",
        "",
        f"From `{bench['command']}` (run `{bench['run']}`); details in "
        "[BENCHMARK_PIPELINE.md](BENCHMARK_PIPELINE.md).",
        "",
    ]
    rows = []
    for model, outcome in bench["models"].items():
        forward, saturated = outcome["forward"], outcome["saturated"]
        rows.append(
            [
                model,
                fmt(forward["images_per_second"]),
                fmt(saturated["images_per_second"]),
                fmt(outcome["ratios"]["end_to_end_over_forward"], 3),
                fmt(outcome["unbatched"]["images_per_second"]),
                fmt(outcome["single_user"]["p50_ms"], 0),
                fmt(forward["single_image_ms_median"], 1),
            ]
        )
    lines += [
        table(
            [
                "model",
                "(1) forward img/s",
                "(2) HTTP img/s",
                "(2)/(1)",
                "(3) batch 1 img/s",
                "(4) single-user p50 ms",
                "single-image forward ms",
            ],
            rows,
        ),
        "",
    ]
    if "resnet50" in bench["models"]:
        lines += resnet_targets(bench["models"]["resnet50"], bench.get("web_steps"))
    lite = bench["models"].get("efficientnet_lite0")
    if lite:
        saturated = lite["saturated"]
        per_request = cpu_per_upload(lite) or {}
        total = sum(per_request.values())
        model_ms = per_request.get(MODEL_CPU, 0.0)
        share = (
            f"The forward pass is {model_ms:.1f} of the {total:.1f} ms of CPU an upload costs "
            f"({100 * model_ms / total:.0f} %); the web process alone costs "
            f"{per_request['web']:.1f} ms. "
            if total
            else ""
        )
        lines += [
            "### What bounds EfficientNet-Lite0",
            "",
            f"{fmt(saturated['images_per_second'])} uploads/s at saturation. "
            + share
            + bound_analysis(lite),
            "",
        ]
    return lines


# --- docs/BENCHMARK_PIPELINE.md --------------------------------------------------------------

TARGETS = {
    "end_to_end_over_forward": 0.90,
    "saturated_images_per_second": 18.0,
    "single_user_margin_ms": 25.0,
    "single_user_p50_ms": 86.0,
    "worker_rss_mb": 1536.0,
    "web_rss_mb": 250.0,
}


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


MODEL_CPU = "model (forward pass, as measured alone)"


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


def ratio_ceiling_reason(outcome: dict, web_steps: dict | None) -> str:
    """Why (2)/(1) is what it is when the model alone already keeps every core busy."""
    per_request = cpu_per_upload(outcome)
    if not per_request:
        return ""
    model_ms = per_request[MODEL_CPU]
    rest_ms = sum(per_request.values()) - model_ms
    target = TARGETS["end_to_end_over_forward"]
    allowed_ms = model_ms * (1 - target) / target
    reason = (
        f"the model alone keeps {outcome['forward'].get('cores_busy', 0):.1f} of 2 cores busy "
        f"at {model_ms:.0f} ms CPU per image; everything else costs {rest_ms:.1f} ms CPU per "
        f"upload on the same cores, so the ceiling is {model_ms:.0f} ÷ "
        f"{model_ms + rest_ms:.0f} = {model_ms / (model_ms + rest_ms):.2f}. "
        f"{target:.2f} would need the rest ≤ {allowed_ms:.1f} ms"
    )
    if web_steps:
        reason += (
            f", while the Django request alone costs {web_steps['total_ms']:.1f} ms in process "
            "(BENCHMARK_PIPELINE.md, “Where the web’s CPU goes”) and "
            f"{per_request['web']:.1f} ms behind gunicorn"
        )
    return reason + "."


def bound_analysis(outcome: dict) -> str:
    """What limits end-to-end throughput, from where the CPU went at saturation."""
    saturated = outcome["saturated"]
    cpu = saturated["cpu_percent"]
    system = saturated.get("system_cpu_percent") or sum(cpu.values())
    accounted = sum(cpu.values())
    other = max(system - accounted, 0.0)
    parts = {**cpu, "other (kernel, rest of the host)": other}
    top = max(parts, key=parts.get)
    split = ", ".join(f"{name} {value:.0f} %" for name, value in parts.items())
    forward_busy = saturated.get("forward_busy_percent") or 0
    text = (
        f"At saturation the host's CPU was {system:.0f} % of 200 % ({split}); the worker spent "
        f"{forward_busy:.0f} % of the window in forward passes. "
    )
    per_request = cpu_per_upload(outcome)
    if per_request:
        total = sum(per_request.values())
        text += (
            "CPU per answered upload: "
            + ", ".join(f"{name} {value:.1f} ms" for name, value in per_request.items())
            + f"; {total:.1f} ms in all, so two cores allow at most {2000 / total:.0f} "
            "uploads/s. "
        )
    if system > 185:
        text += (
            f"The two cores are full, so throughput is bounded by total CPU per request; the "
            f"largest consumer is {top}."
        )
    elif cpu.get("web", 0) > 85:
        text += (
            "The web process is near one core: its threads share one interpreter lock, so "
            "one gunicorn process is the bound; more web processes would lift it."
        )
    else:
        text += (
            "Neither the cores nor one process are saturated: the bound is latency in the chain."
        )
    if other > 20:
        text += (
            f" Note: {other:.0f} % of the host's CPU went to processes outside the system under "
            "test (other jobs on this shared machine), so these figures are below an idle host's."
        )
    return text


def write_benchmark_doc(results: dict, path: Path) -> Path:
    settings = results["settings"]
    lines = [
        "# Pipeline benchmark: what the HTTP pipeline costs on top of the model",
        "",
        f"Generated by `loadtests/bench_pipeline.py` (run `{results['run']}`, commit "
        f"{results['git_commit']}, {results['started']} → {results.get('finished', '?')}):",
        "",
        f"    {results['command']}",
        "",
        f"Host: {results['host']['cpu_model']}, {results['host']['logical_cpus']} logical CPUs, "
        f"{results['host']['memory_gb']} GB, no GPU; 1-min load average at the end "
        f"{results.get('load_average_end', [float('nan')])[0]:.1f}. Web: {settings['web']}; "
        f"one `run_model_worker`, {settings['tensorflow_threads']}; database "
        f"{settings['database']}; Redis embedded. Batch size {settings['batch_size']}, max wait "
        f"{settings['max_wait_ms']:g} ms, {settings['clients']} clients, "
        f"{settings['seconds']:g} s measured after {settings['warmup']:g} s of warm-up.",
        "",
        "## Method",
        "",
        "1. **Raw forward**: the worker's model built the way the worker builds it, in its own "
        "process with the worker's TensorFlow thread settings, timed on full batches of real "
        "preprocessed photos (images/s = images ÷ total time), then on single images (median).",
        "2. **End to end at saturation**: closed-loop clients (threads, `http.client`, "
        "keep-alive), each uploading a photo nobody sent before as soon as its previous "
        "upload is answered. Counted: 201 answers in the window. Enough clients that batches "
        "stay full "
        "(mean batch size shown).",
        "3. The same with `--batch-size 1`.",
        "4. **One client alone**, back to back, on the stack of (2).",
        "",
        "Photos are prepared before the run; each request stamps a unique JPEG comment into one, "
        "so the bytes (and the result-cache key) are new while the load generator does no "
        "image work. Its CPU is measured like the servers'.",
        "",
    ]
    for model, outcome in results["models"].items():
        forward, saturated = outcome["forward"], outcome["saturated"]
        single = outcome["single_user"]
        ratios = outcome["ratios"]
        lines += [
            f"## {forward['model']}",
            "",
            "The model alone (1):",
            "",
            forward_table(outcome),
            "",
            "Through HTTP (CPU per request is each process group's CPU time in the window "
            "÷ requests answered):",
            "",
            http_table(outcome),
            "",
            f"- (2)/(1) = **{ratios['end_to_end_over_forward']:.3f}** "
            f"(HTTP at saturation over raw forward at batch {forward['batch_size']})",
            f"- (2)/(3) = **{ratios['batched_over_unbatched']:.2f}** "
            "(what batching buys end to end)",
            "- p50(4) − single-image forward = "
            f"**{ratios['single_user_p50_minus_forward_ms']:.1f} ms** "
            f"(p50 {single['p50_ms']:.0f} ms; from the answers' timestamps: created → "
            f"started {fmt(single['queue_p50_ms'], 1)} ms, started → finished "
            f"{fmt(single['worker_run_p50_ms'], 1)} ms at the median)",
            f"- Peak RSS: worker {fmt(saturated['rss_mb_per_process'].get('workers'), 0)} MB, "
            f"web process {fmt(saturated['rss_mb_per_process'].get('web'), 0)} MB, load generator "
            f"{fmt(saturated['rss_mb_per_process'].get('load generator'), 0)} MB",
            f"- Requests/s at saturation: {saturated['images_per_second']:.1f}; web CPU per "
            f"request {fmt(saturated['web_cpu_ms_per_request'], 1)} ms. {bound_analysis(outcome)}",
            "",
        ]
        if model == "resnet50":
            lines += resnet_targets(outcome, results.get("web_steps"))
    if results.get("web_steps"):
        lines += web_steps_section(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The runtimes' section (python -m loadtests.bench_runtimes) is a separate run: keep it.
    kept = ""
    if path.exists() and "<!-- bench_runtimes:start -->" in (previous := path.read_text()):
        start = previous.index("<!-- bench_runtimes:start -->")
        end = previous.find("<!-- bench_runtimes:end -->", start)
        if end != -1:
            kept = "\n" + previous[start : end + len("<!-- bench_runtimes:end -->")] + "\n"
    path.write_text("\n".join(lines) + kept)
    return path


def web_steps_section(results: dict) -> list[str]:
    steps = results["web_steps"]
    served = [
        outcome["saturated"]["web_cpu_ms_per_request"]
        for outcome in results["models"].values()
        if outcome["saturated"].get("web_cpu_ms_per_request")
    ]
    rows = [
        [label.replace("  ", "↳ ", 1), f"{value:.2f}"] for label, value in steps["steps_ms"].items()
    ]
    rows.append(["the rest (Django middleware, DRF dispatch, URL routing, rendering, test client)",
                 f"{steps['rest_ms']:.2f}"])  # fmt: skip
    rows.append(["**total, in process**", f"**{steps['total_ms']:.2f}**"])
    lines = [
        "## Where the web's CPU goes",
        "",
        f"One upload's steps timed inside a web process (Django's test client, "
        f"{steps['uploads']} uploads of new photos, PostgreSQL, Redis; no worker, so the answer "
        "is the 202 and `wait_for_prediction` returns at once). CPU ms per upload; indented "
        "steps are part of the one above.",
        "",
        table(["step", "CPU ms per upload"], rows),
        "",
    ]
    if served:
        lines += [
            f"Behind gunicorn at saturation the web process spent {min(served):.1f}–"
            f"{max(served):.1f} ms per upload. [PROFILE_WEB.md](PROFILE_WEB.md) samples it "
            "under that load: gunicorn's own share is small; most of the difference is the "
            "same steps running slower beside TensorFlow and the other requests, plus the wait "
            "for the answer (the XREAD wake-up and a second read of the prediction).",
            "",
        ]
    return lines


def forward_table(outcome: dict) -> str:
    runs = outcome.get("forward_runs") or [outcome["forward"]]
    labels = ["before (2)", "after (4)"] if len(runs) == 2 else ["run"]
    rows = [
        [
            label,
            fmt(run["images_per_second"]),
            fmt(run["batch_ms_median"], 0),
            fmt(run["single_image_ms_median"], 1),
            fmt(run.get("load_average"), 1),
        ]
        for label, run in zip(labels, runs, strict=True)
    ]
    if len(runs) > 1:
        forward = outcome["forward"]
        rows.append(
            [
                "**mean (used for the ratios)**",
                fmt(forward["images_per_second"]),
                fmt(forward["batch_ms_median"], 0),
                fmt(forward["single_image_ms_median"], 1),
                fmt(forward.get("load_average"), 1),
            ]
        )
    batch = outcome["forward"]["batch_size"]
    headers = [
        "measured",
        f"images/s at batch {batch}",
        f"ms per batch of {batch} (median)",
        "ms per single image (median)",
        "host load average",
    ]
    return table(headers, rows)


def http_table(outcome: dict) -> str:
    phases = (
        (f"(2) {outcome['saturated']['clients']} clients", outcome["saturated"]),
        (f"(3) {outcome['unbatched']['clients']} clients, batch 1", outcome["unbatched"]),
        ("(4) 1 client", outcome["single_user"]),
    )
    rows = []
    for label, s in phases:

        def cpu(group, s=s):
            requests = s["requests"]
            if not requests or group not in s["cpu_percent"]:
                return "–"
            return f"{s['cpu_percent'][group] * s['window_seconds'] / 100 / requests * 1000:.1f}"

        rows.append(
            [
                label,
                fmt(s["images_per_second"], 2),
                f"{fmt(s['p50_ms'], 0)} / {fmt(s['p95_ms'], 0)} / {fmt(s['p99_ms'], 0)}",
                f"{s['failures']} / {s['requests']}",
                fmt(s["mean_batch_size"], 1),
                fmt(s["forward_busy_percent"], 0, " %"),
                cpu("web"),
                cpu("workers"),
                cpu("postgres"),
                cpu("redis"),
                cpu("load generator"),
                fmt(s.get("load_average"), 1),
            ]
        )
    headers = [
        "phase", "images/s", "p50 / p95 / p99 ms", "failed", "mean batch", "worker in forward",
        "web ms CPU", "worker ms CPU", "PostgreSQL ms CPU", "Redis ms CPU",
        "load generator ms CPU", "host load average",
    ]  # fmt: skip
    return table(headers, rows)


def resnet_targets(outcome: dict, web_steps: dict | None = None) -> list[str]:
    forward, saturated, single = outcome["forward"], outcome["saturated"], outcome["single_user"]
    ratio = outcome["ratios"]["end_to_end_over_forward"]
    ratio_met = ratio >= TARGETS["end_to_end_over_forward"]
    margin = outcome["ratios"]["single_user_p50_minus_forward_ms"]
    worker_rss = saturated["rss_mb_per_process"].get("workers") or 0
    web_rss = saturated["rss_mb_per_process"].get("web") or 0
    rows = [
        [
            "(2)/(1) ≥ 0.90",
            f"{ratio:.3f}",
            verdict(ratio_met)
            + ("" if ratio_met else ": " + ratio_ceiling_reason(outcome, web_steps)),
        ],
        [
            "(2) ≥ 18 images/s at 50 clients, 0 failures",
            f"{saturated['images_per_second']:.1f} img/s, {saturated['failures']} failures",
            verdict(
                saturated["images_per_second"] >= TARGETS["saturated_images_per_second"]
                and saturated["failures"] == 0
            ),
        ],
        [
            "single-user p50 ≤ single-image forward + 25 ms",
            f"{single['p50_ms']:.0f} ms vs {forward['single_image_ms_median']:.0f} + 25 ms",
            verdict(margin <= TARGETS["single_user_margin_ms"]),
        ],
        [
            "single-user p50 < 86 ms (BentoML)",
            f"{single['p50_ms']:.0f} ms",
            verdict(single["p50_ms"] < TARGETS["single_user_p50_ms"]),
        ],
        [
            "worker RSS ≤ 1.5 GB",
            f"{worker_rss:.0f} MB",
            verdict(worker_rss <= TARGETS["worker_rss_mb"]),
        ],
        ["web process ≤ 250 MB", f"{web_rss:.0f} MB", verdict(web_rss <= TARGETS["web_rss_mb"])],
    ]
    return ["### Targets (ResNet50)", "", table(["target", "measured", ""], rows), ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="default: newest scenario run")
    parser.add_argument("--bench", type=Path, help="a bench_pipeline.py run (default: newest)")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--output", type=Path, default=DOCS_DIR / "STRESS_TEST_REPORT.md")
    parser.add_argument("--charts", type=Path, default=DOCS_DIR / "charts")
    parser.add_argument(
        "--bench-doc",
        type=Path,
        default=DOCS_DIR / "BENCHMARK_PIPELINE.md",
        help="rewritten from the benchmark run too",
    )
    args = parser.parse_args(argv)
    run_dir = args.run_dir or newest_run()
    if run_dir is None:
        parser.error("no results yet: run loadtests/run_scenarios.py first")
    bench_dir = None if args.no_bench else (args.bench or newest_run("bench-", "bench.json"))
    output = render_report(run_dir, args.output, args.charts, bench_dir)
    print(f"Wrote {output} (charts in {args.charts})")
    if bench_dir:
        bench = json.loads((bench_dir / "bench.json").read_text())
        print(f"Wrote {write_benchmark_doc(bench, args.bench_doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
