"""Which runtime and precision a worker runs, and the name its predictions carry."""

import pytest

from mlworker.catalog import model_name
from mlworker.runtimes import (
    BF16,
    FP32,
    INT8,
    ONNXRUNTIME,
    OPENVINO,
    TENSORFLOW,
    RuntimeUnavailable,
    choose,
    cpu_flags,
    thread_plan,
)

EVERYTHING = frozenset({TENSORFLOW, OPENVINO, ONNXRUNTIME})
AMX = frozenset({"amx_bf16", "avx512_bf16"})
NO_BF16 = frozenset()


def test_auto_picks_openvino_and_leaves_the_precision_to_the_accuracy_gate():
    choice = choose(bf16_flags=AMX, installed=EVERYTHING, can_quantize=True)
    assert choice.runtime == OPENVINO
    # tried fastest first, each kept only if it passes the gate; fp32 last
    assert (choice.gated, choice.precision) == ((INT8, BF16), FP32)
    assert "parity" in choice.reason and "fastest of int8, bf16, fp32" in choice.reason
    assert "accuracy gate" in choice.reason


def test_auto_offers_only_what_this_cpu_and_environment_run():
    assert choose(bf16_flags=NO_BF16, installed=EVERYTHING, can_quantize=True).gated == (INT8,)
    assert choose(bf16_flags=AMX, installed=EVERYTHING, can_quantize=False).gated == (BF16,)
    plain = choose(bf16_flags=NO_BF16, installed=EVERYTHING, can_quantize=False)
    assert (plain.gated, plain.precision) == ((), FP32)


def test_auto_falls_back_on_tensorflow_when_nothing_else_is_installed():
    choice = choose(bf16_flags=AMX, installed=frozenset({TENSORFLOW}), can_quantize=True)
    assert (choice.runtime, choice.precision, choice.gated) == (TENSORFLOW, FP32, ())


def test_int8_runs_on_openvino_when_asked_and_elsewhere_is_fp32_with_a_message():
    asked = choose(OPENVINO, INT8, installed=EVERYTHING, can_quantize=True)
    assert (asked.runtime, asked.precision, asked.gated) == (OPENVINO, INT8, ())
    assert "int8 as asked (not gated)" in asked.reason
    elsewhere = choose(ONNXRUNTIME, INT8, installed=EVERYTHING, can_quantize=True)
    assert elsewhere.precision == FP32 and "only offered on openvino" in elsewhere.reason
    unquantizable = choose(OPENVINO, INT8, installed=EVERYTHING, can_quantize=False)
    assert unquantizable.precision == FP32 and "'nncf' package" in unquantizable.reason


def test_bf16_runs_only_where_the_cpu_has_it():
    assert choose(OPENVINO, BF16, bf16_flags=AMX, installed=EVERYTHING).precision == BF16
    fallback = choose(OPENVINO, BF16, bf16_flags=NO_BF16, installed=EVERYTHING)
    assert fallback.precision == FP32
    assert "no bf16" in fallback.reason and "fp32" in fallback.reason


def test_bf16_on_a_runtime_without_it_is_fp32_with_a_message():
    choice = choose(ONNXRUNTIME, BF16, bf16_flags=AMX, installed=EVERYTHING)
    assert (choice.runtime, choice.precision) == (ONNXRUNTIME, FP32)
    assert "only offered on openvino" in choice.reason


def test_a_runtime_that_is_not_installed_is_refused():
    with pytest.raises(RuntimeUnavailable, match="not installed"):
        choose(OPENVINO, installed=frozenset({TENSORFLOW}))
    with pytest.raises(RuntimeUnavailable, match="choose one of"):
        choose("tensorrt")


def test_model_name_says_runtime_and_precision_except_for_tensorflow_fp32():
    tf = choose(TENSORFLOW, FP32)
    bf16 = choose(OPENVINO, BF16, bf16_flags=AMX, installed=EVERYTHING)
    assert model_name("resnet50", resnet50_weights="imagenet", choice=tf) == "resnet50"
    assert (
        model_name("resnet50", resnet50_weights="imagenet", choice=bf16) == "resnet50+openvino-bf16"
    )
    assert (
        model_name("resnet50", resnet50_weights="random", choice=bf16)
        == "resnet50+openvino-bf16 (random weights)"
    )
    assert model_name("efficientnet_lite0", choice=bf16) == "efficientnet_lite0+openvino-bf16"


def test_threads_share_the_cores_between_the_workers_on_a_host():
    assert thread_plan(num_threads=0, workers_per_host=1, cores=2).threads == 2
    two = thread_plan(num_threads=0, workers_per_host=2, cores=2)
    assert two.threads == 1
    assert thread_plan(num_threads=3, workers_per_host=2, cores=2).threads == 3


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512_bf16 amx_tile\n")
    assert {"avx512_bf16", "amx_tile"} <= cpu_flags(cpuinfo)
    assert cpu_flags(tmp_path / "missing") == frozenset()
