"""The same-run verdicts say what a bench_runtimes.py run measured, judged against the
targets, with the measured reason of every miss: rendered from a runtimes.json built here."""

from __future__ import annotations

from benchmarks.runtimes_report import write_section
from benchmarks.tests.test_pipeline_doc import phase

WITH_VNNI = "(CPU with VNNI; flags: avx2, avx512_vnni)"


def row(model: str, asked: str, ran: str, alone: float, e2e: float, single_p50: float) -> dict:
    saturated = {**phase(50, e2e, 2000.0), "model_names": [ran]}
    forward = {"model": ran, "images_per_second": alone, "single_image_ms_median": 40.0,
               "cpu_ms_per_image": 80.0}  # fmt: skip
    return {"model": model, "asked": asked, "forward": forward, "saturated": saturated,
            "single_user": phase(1, 20.0, single_p50)}  # fmt: skip


def runtimes_results(*, vnni: bool) -> dict:
    ab_round = {"saturated": {**phase(50, 60.0, 700.0), "model_names": ["lite+int8"]}}
    base_round = {"saturated": {**phase(50, 50.0, 800.0), "model_names": ["lite+fp32"]}}
    return {
        "run": "runtimes-fixture", "command": "bench_runtimes.py --baseline-checkout base",
        "git_commit": "abc1234", "started": "2026-01-01T12:00:00+00:00",
        "finished": "2026-01-01T12:20:00+00:00", "minutes": 20.0,
        "host": {"cpu_model": "Test CPU", "logical_cpus": 2, "memory_gb": 8,
                 "load_average": [0.3, 0.2, 0.1], "vnni": vnni,
                 "simd_flags": ["avx2", "avx512_vnni"] if vnni else ["avx2"]},
        "load_average_end": [1.9, 1.5, 0.9],
        "settings": {"batch_size": 16, "max_wait_ms": 10.0, "clients": 50, "seconds": 45.0,
                     "warmup": 10.0, "forward_seconds": 15.0, "single_requests": 60},
        "rows": [
            row("resnet50", "openvino-int8", "resnet50+openvino-int8", 60.0, 54.0, 50.0),
            row("resnet50", "openvino-fp32", "resnet50+openvino-fp32", 30.0, 21.0, 80.0),
        ],
        "bentoml": {"bentoml": "1.4.40", "saturated": {**phase(50, 25.0, 2600.0),
                    "cpu_ms_per_request": 100.0, "rss_mb_total": 1100.0},
                    "single_user": phase(1, 1.0, 1800.0)},
        "ab": {"checkout": "base", "commit": "217b5a6", "ratio": 1.2,
               "mean_images_per_second": {"A": 60.0, "B": 50.0},
               "rounds": [{"side": "A", **ab_round}, {"side": "B", **base_round},
                          {"side": "B", **base_round}, {"side": "A", **ab_round}],
               "single_user": {"A": phase(1, 30.0, 20.0), "B": phase(1, 25.0, 30.0)}},
    }  # fmt: skip


def test_the_section_names_the_run_and_judges_each_target_with_the_reason_of_a_miss(tmp_path):
    doc = tmp_path / "BENCHMARK_PIPELINE.md"
    doc.write_text("# Pipeline\n\n<!-- bench_runtimes:start -->\nold\n<!-- bench_runtimes:end -->")
    write_section(runtimes_results(vnni=True), doc)
    text = doc.read_text()

    assert text.startswith("# Pipeline\n") and "\nold\n" not in text
    assert "bench_runtimes.py --baseline-checkout base" in text and "abc1234" in text
    assert "**avx2, avx512_vnni**" in text and "0.30 / 0.20 / 0.10" in text
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    int8 = lines[f"ResNet50 e2e ≥ 2× BentoML, openvino-int8 {WITH_VNNI}"]
    assert "54.0 / 25.0 = 2.16×" in int8 and int8.endswith("| met |")
    fp32 = lines[f"ResNet50 e2e ≥ 1.3× BentoML, openvino-fp32 {WITH_VNNI}"]
    assert "21.0 / 25.0 = 0.84×" in fp32 and "**not met**: the model alone does 30.0 img/s" in fp32
    ratio = lines["e2e ≥ 0.85× the model alone (resnet50 openvino-fp32)"]
    assert "21.0 / 30.0 = 0.70" in ratio and "ms CPU per upload outside the model" in ratio
    lite = lines[
        "EfficientNet-Lite0 uploads/s ≥ 1.5× commit 217b5a6 (A/B in one run, rounds A B B A)"
    ]
    assert "60.0 / 50.0 = 1.20×" in lite and "ran lite+int8 against lite+fp32" in lite
    single = lines["one client p50 ≤ forward(1) + 15 ms (resnet50 openvino-fp32)"]
    assert "**not met**: 40 ms over the forward pass: queued p50 5 ms" in single
    assert lines["web RSS ≤ 250 MB (largest of the runs)"].endswith("| met |")


def test_without_vnni_the_int8_target_is_the_lower_one():
    from benchmarks.runtimes_report import verdicts

    targets = [target for target, _, _ in verdicts(runtimes_results(vnni=False))]
    assert "ResNet50 e2e ≥ 1.6× BentoML, openvino-int8 (CPU without VNNI; flags: avx2)" in targets


def test_a_forced_precision_that_fell_back_is_not_met():
    from benchmarks.runtimes_report import verdicts

    results = runtimes_results(vnni=True)
    results["rows"][0]["saturated"]["model_names"] = ["resnet50+openvino-fp32"]
    judged = {target: verdict for target, _, verdict in verdicts(results)}
    int8 = judged[f"ResNet50 e2e ≥ 2× BentoML, openvino-int8 {WITH_VNNI}"]
    assert int8 == "**not met**: ran resnet50+openvino-fp32"
