"""The same-run verdicts of a bench_runtimes run (runtimes.json): the figures and verdicts
are computed here, the prose is in benchmarks/templates/runtimes_section.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.load.markdown import fmt, render, table
from benchmarks.pipeline_doc import MODEL_CPU, RUNTIMES_SECTION, cpu_per_upload

#: the targets judged (ratios within one run, on one machine)
INT8_OVER_BENTOML = {True: 2.0, False: 1.6}  # by whether the CPU has int8 dot products (VNNI)
FP32_OVER_BENTOML = 1.3
END_TO_END_OVER_ALONE = 0.85  # on the same runtime and precision
LITE0_OVER_BASELINE = 1.5  # EfficientNet-Lite0 uploads/s, A/B against the baseline commit
SINGLE_USER_MARGIN_MS = 15.0  # a lone user's p50 over the single-image forward pass
WORKER_RSS_MB = 1536
WEB_RSS_MB = 250


def verdict(met: bool, reason: str) -> str:
    return "met" if met else f"**not met**: {reason}"


def ran(row: dict) -> str:
    """What served the row: the model name the worker answered with (runtime, precision)."""
    names = row["saturated"].get("model_names") or [row["forward"]["model"]]
    return ", ".join(names)


def forced_variant_ran(row: dict) -> bool:
    """A forced runtime-precision is what answered (it falls back on fp32 where it cannot)."""
    if row["asked"] == "auto":
        return True
    names = row["saturated"].get("model_names") or [row["forward"]["model"]]
    plain = row["asked"] == "tensorflow-fp32"  # its name carries no suffix
    return all(("+" not in name) if plain else f"+{row['asked']}" in name for name in names)


def non_model_cpu(row: dict) -> float | None:
    """CPU ms per answered upload outside the forward pass (web, worker bookkeeping,
    PostgreSQL, Redis), the load generator left out."""
    parts = cpu_per_upload(row)
    if parts is None:
        return None
    return sum(ms for name, ms in parts.items() if name not in (MODEL_CPU, "load generator"))


def rss(phase: dict, group: str) -> float:
    return phase["rss_mb_per_process"].get(group) or 0.0


def label(row: dict) -> str:
    return f"{row['model']} {row['asked']}"


def bentoml_verdicts(results: dict) -> list[list[str]]:
    peer = (results.get("bentoml") or {}).get("saturated")
    if peer is None:
        return []
    vnni = results["host"].get("vnni", False)
    flags = ", ".join(results["host"].get("simd_flags", [])) or "none of note"
    rows = []
    for row in results["rows"]:
        precision = row["asked"].rsplit("-", 1)[-1]
        if row["model"] != "resnet50" or precision not in ("int8", "fp32"):
            continue
        target = INT8_OVER_BENTOML[vnni] if precision == "int8" else FP32_OVER_BENTOML
        rate, alone = row["saturated"]["images_per_second"], row["forward"]["images_per_second"]
        base = peer["images_per_second"]
        why = (
            f"ran {ran(row)}"
            if not forced_variant_ran(row)
            else f"the model alone does {alone:.1f} img/s = {alone / base:.2f}× BentoML's end "
            f"to end, and end to end keeps {rate / alone:.0%} of it"
        )
        rows.append([
            f"ResNet50 e2e ≥ {target:g}× BentoML, {row['asked']} (CPU "
            f"{'with' if vnni else 'without'} VNNI; flags: {flags})",
            f"{rate:.1f} / {base:.1f} = {rate / base:.2f}×",
            verdict(rate >= target * base and forced_variant_ran(row), why),
        ])  # fmt: skip
    return rows


def row_verdicts(row: dict) -> list[list[str]]:
    """End to end against the model alone, a lone user's wait, and the worker's memory."""
    saturated, forward, single = row["saturated"], row["forward"], row["single_user"]
    ratio = saturated["images_per_second"] / forward["images_per_second"]
    cpu, model_ms = non_model_cpu(row), forward["cpu_ms_per_image"]
    ceiling = model_ms / (model_ms + cpu) if cpu else None
    rows = [[
        f"e2e ≥ {END_TO_END_OVER_ALONE}× the model alone ({label(row)})",
        f"{saturated['images_per_second']:.1f} / {forward['images_per_second']:.1f} = "
        f"{ratio:.2f}",
        verdict(ratio >= END_TO_END_OVER_ALONE,
                f"{fmt(cpu, 1)} ms CPU per upload outside the model next to its {model_ms:.1f} "
                f"ms per image: the cores allow at most {fmt(ceiling, 2)} of the model alone"),
    ]]  # fmt: skip
    if single is not None and single["p50_ms"] is not None:
        p50, one = single["p50_ms"], forward["single_image_ms_median"]
        rows.append([
            f"one client p50 ≤ forward(1) + {SINGLE_USER_MARGIN_MS:g} ms ({label(row)})",
            f"{p50:.1f} ≤ {one:.1f} + {SINGLE_USER_MARGIN_MS:g}",
            verdict(p50 <= one + SINGLE_USER_MARGIN_MS,
                    f"{p50 - one:.0f} ms over the forward pass: queued p50 "
                    f"{fmt(single['queue_p50_ms'], 0)} ms, in the worker p50 "
                    f"{fmt(single['worker_run_p50_ms'], 0)} ms"),
        ])  # fmt: skip
    worker = rss(saturated, "workers")
    rows.append([
        f"worker RSS ≤ {WORKER_RSS_MB / 1024:g} GB ({label(row)})", f"{worker:.0f} MB",
        verdict(worker <= WORKER_RSS_MB, f"peak {worker:.0f} MB at {saturated['clients']} clients"),
    ])  # fmt: skip
    return rows


def baseline_verdict(ab: dict | None) -> list[list[str]]:
    if ab is None:
        return []
    mean, rounds = ab["mean_images_per_second"], ab["rounds"]
    first = {side: next(r["saturated"] for r in rounds if r["side"] == side) for side in "AB"}
    why = (
        f"ran {', '.join(first['A']['model_names'])} against "
        f"{', '.join(first['B']['model_names'])}; web CPU per upload "
        f"{fmt(first['A']['web_cpu_ms_per_request'], 1)} vs "
        f"{fmt(first['B']['web_cpu_ms_per_request'], 1)} ms, worker "
        f"{fmt(first['A']['worker_cpu_ms_per_request'], 1)} vs "
        f"{fmt(first['B']['worker_cpu_ms_per_request'], 1)} ms"
    )
    return [[
        f"EfficientNet-Lite0 uploads/s ≥ {LITE0_OVER_BASELINE:g}× commit {ab['commit']} "
        f"(A/B in one run, rounds {' '.join(r['side'] for r in rounds)})",
        f"{mean['A']:.1f} / {mean['B']:.1f} = {ab['ratio']:.2f}×",
        verdict(ab["ratio"] >= LITE0_OVER_BASELINE, why),
    ]]  # fmt: skip


def verdicts(results: dict) -> list[list[str]]:
    """[target, figure, verdict] for every target, from this run only."""
    rows = bentoml_verdicts(results) + baseline_verdict(results.get("ab"))
    for row in results["rows"]:
        rows += row_verdicts(row)
    webs = [(rss(row["saturated"], "web"), label(row)) for row in results["rows"]]
    if webs:
        web, where = max(webs)
        rows.append([
            f"web RSS ≤ {WEB_RSS_MB} MB (largest of the runs)", f"{web:.0f} MB ({where})",
            verdict(web <= WEB_RSS_MB, f"peak {web:.0f} MB per gunicorn process"),
        ])  # fmt: skip
    return rows


def print_verdicts(results: dict) -> None:
    for target, figure, judged in verdicts(results):
        print(f"{target}: {figure} → {judged}")


def rows_table(results: dict) -> str:
    rows = []
    for row in results["rows"]:
        f, sat, single = row["forward"], row["saturated"], row["single_user"] or {}
        rows.append([
            row["model"], row["asked"], ran(row), f"{f['images_per_second']:.1f}",
            f"{f['single_image_ms_median']:.1f}",
            f"{sat['images_per_second']:.1f} ({sat['failures']} failed)",
            f"{sat['images_per_second'] / f['images_per_second']:.2f}", fmt(sat["p50_ms"], 0),
            fmt(single.get("p50_ms"), 1), fmt(non_model_cpu(row), 1),
            fmt(sat["web_cpu_ms_per_request"], 1), f"{rss(sat, 'workers'):.0f}",
            f"{rss(sat, 'web'):.0f}",
        ])  # fmt: skip
    if peer := results.get("bentoml"):
        sat = peer["saturated"]
        rows.append([
            "resnet50", "–", f"**BentoML {peer['bentoml']}**, TensorFlow fp32, adaptive "
            f"batching (max {results['settings']['batch_size']})", "", "",
            f"{sat['images_per_second']:.1f} ({sat['failures']} failed)", "",
            fmt(sat["p50_ms"], 0), fmt(peer["single_user"]["p50_ms"], 1),
            f"{sat['cpu_ms_per_request']:.1f} (all its CPU, model included)", "",
            f"{sat['rss_mb_total']:.0f} (all processes)", "",
        ])  # fmt: skip
    headers = ["model", "asked", "ran (as the worker names it)", "alone, batch 16 img/s",
               "alone, 1 image ms", "e2e img/s", "e2e / alone", "p50 under load ms",
               "one client p50 ms", "non-model CPU ms/upload", "web CPU ms/upload",
               "worker RSS MB", "web RSS MB"]  # fmt: skip
    return table(headers, rows)


def ab_table(ab: dict | None) -> str:
    if ab is None:
        return ""
    rows, seen = [], set()
    for index, r in enumerate(ab["rounds"]):
        sat, side = r["saturated"], r["side"]
        single = ab["single_user"].get(side) if side not in seen else None  # its first round
        seen.add(side)
        rows.append([
            f"{side}{index + 1}", ", ".join(sat["model_names"]),
            f"{sat['images_per_second']:.1f} ({sat['failures']} failed)", fmt(sat["p50_ms"], 0),
            fmt(sat["web_cpu_ms_per_request"], 1), fmt(sat["worker_cpu_ms_per_request"], 1),
            fmt((single or {}).get("p50_ms"), 1),
        ])  # fmt: skip
    headers = ["round", "ran", "e2e img/s", "p50 under load ms", "web CPU ms/upload",
               "worker CPU ms/upload", "one client p50 ms"]  # fmt: skip
    return table(headers, rows)


def markdown_section(results: dict) -> str:
    return render("runtimes_section.md", {
        "r": results,
        "s": results["settings"],
        "flags": ", ".join(results["host"].get("simd_flags", [])) or "none of note",
        "steps": results.get("web_steps"),
        "table": rows_table(results),
        "ab": results.get("ab"),
        "ab_table": ab_table(results.get("ab")),
        "targets": table(["target", "figure", "verdict"], verdicts(results)),
    })  # fmt: skip


def write_section(results: dict, path: Path) -> None:
    """Replace the section between its markers in `path` (or append it)."""
    start, end = RUNTIMES_SECTION
    section = markdown_section(results)
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
