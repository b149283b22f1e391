"""Run a Keras model through TensorFlow, OpenVINO or ONNX Runtime: one `forward(batch)` each.

The Keras model stays the source of truth. For OpenVINO and ONNX Runtime it is converted
once (OpenVINO's `convert_model`, tf2onnx) and the converted file is cached on disk under
MODEL_CACHE_DIR, keyed by everything that changes its output: the model, a digest of its
weights, the runtime and its version, the precision, the input-shape policy (any batch
size, fixed height and width) and this module's format version. A worker that finds its
entry loads it without building the Keras model at all.

Random weights (tests, benchmarks) differ at every start, so they are converted in memory
and never written to disk.

int8 is OpenVINO's model quantized by NNCF (post-training: activation ranges measured on
the calibration photos of `mlworker.gate_photos`, then bias correction); the cache key adds
NNCF's version and the photo set's.

OpenVINO's converter and NNCF would send usage telemetry when they find the
`openvino_telemetry` package; `_block_openvino_telemetry` makes that package unimportable in
this process first, so both fall back on their built-in no-op stubs and nothing leaves the
host.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlworker.runtimes import (
    BF16,
    INT8,
    ONNXRUNTIME,
    OPENVINO,
    TENSORFLOW,
    InferenceChoice,
    ThreadPlan,
    thread_plan,
)

logger = logging.getLogger(__name__)

#: bump when the conversion itself changes (options, opset, graph edits)
CONVERSION_FORMAT_VERSION = 1
ONNX_OPSET = 17

Forward = Callable[[np.ndarray], np.ndarray]
#: preprocessed calibration photos, made only when a model is quantized
Calibration = Callable[[], np.ndarray]


def configured_threads() -> ThreadPlan:
    from django.conf import settings

    return thread_plan(
        num_threads=settings.INFERENCE_NUM_THREADS,
        workers_per_host=settings.INFERENCE_WORKERS_PER_HOST,
    )


def default_cache_dir() -> Path:
    from mlworker.models.efficientnet_lite import default_cache_dir as weights_cache_dir

    return weights_cache_dir()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _block_openvino_telemetry() -> None:
    already = sys.modules.get("openvino_telemetry", "absent")
    if already is None:
        return
    if already != "absent":
        logger.warning("openvino_telemetry was imported before it could be blocked")
    sys.modules["openvino_telemetry"] = None  # `import openvino_telemetry` → ImportError


def runtime_version(runtime: str, precision: str = "") -> str:
    if runtime == OPENVINO and precision == INT8:
        from importlib.metadata import version

        from mlworker.gate_photos import PHOTO_SET_VERSION

        return f"{runtime_version(runtime)}-nncf{version('nncf')}-photos{PHOTO_SET_VERSION}"
    if runtime == OPENVINO:
        _block_openvino_telemetry()
        import openvino

        return openvino.get_version().split("-")[0]
    if runtime == ONNXRUNTIME:
        import onnxruntime
        import tf2onnx

        return f"{onnxruntime.__version__}-tf2onnx{tf2onnx.__version__}"
    import tensorflow as tf

    return tf.__version__


def cache_entry(
    *,
    cache_dir: Path,
    model_key: str,
    weights_digest: str,
    choice: InferenceChoice,
    input_size: tuple[int, int],
) -> Path:
    """The folder holding one converted model. Its name is the cache key, spelled out."""
    height, width = input_size
    parts = [
        model_key,
        f"w{weights_digest[:16]}",
        f"{choice.runtime}{runtime_version(choice.runtime, choice.precision)}",
        choice.precision,
        f"anybatchx{height}x{width}x3",
        f"v{CONVERSION_FORMAT_VERSION}",
    ]
    return cache_dir / "converted" / "-".join(parts)


def build_forward(
    *,
    model_key: str,
    make_network: Callable[[], object],
    weights_digest: str | None,
    input_size: tuple[int, int],
    choice: InferenceChoice,
    threads: ThreadPlan,
    cache_dir: Path,
    calibration: Calibration | None = None,
) -> Forward:
    """A forward pass of `make_network()`'s Keras model on `choice.runtime`.

    `weights_digest` None means "do not cache on disk" (random weights). `calibration`
    gives the photos int8 is calibrated on (needed only to quantize).
    """
    if choice.runtime == TENSORFLOW:
        from mlworker.models.runtime import compile_forward

        return compile_forward(make_network(), input_size)
    entry = None
    if weights_digest is not None:
        entry = cache_entry(
            cache_dir=cache_dir,
            model_key=model_key,
            weights_digest=weights_digest,
            choice=choice,
            input_size=input_size,
        )
    if choice.runtime == OPENVINO:
        return _openvino_forward(make_network, entry, input_size, choice, threads, calibration)
    if choice.runtime == ONNXRUNTIME:
        return _onnxruntime_forward(make_network, entry, input_size, threads)
    raise ValueError(f"unknown runtime {choice.runtime!r}")


def _publish(build: Callable[[Path], None], entry: Path) -> None:
    """Write a cache entry atomically: build into a temporary folder, then rename it.

    Workers starting together may both convert; the first rename wins, the other's copy
    is discarded, and nobody ever reads half a model.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entry.parent, prefix=entry.name + ".", suffix=".tmp"))
    try:
        build(staging)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; other worker users may read it
        try:
            os.rename(staging, entry)
        except OSError:
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- OpenVINO ---------------------------------------------------------------------------------


def _openvino_forward(
    make_network, entry, input_size, choice, threads: ThreadPlan, calibration
) -> Forward:
    _block_openvino_telemetry()
    import openvino as ov

    height, width = input_size
    core = ov.Core()
    model_file = entry / "model.xml" if entry is not None else None
    if model_file is not None and model_file.is_file():
        model = core.read_model(model_file)
        logger.info("OpenVINO model from cache %s", entry)
    else:
        # share_weights=False: the converted model must own its weights; shared ones point into
        # the temporary Keras network, and once that is collected they read freed memory.
        model = ov.convert_model(
            make_network(), input=[(-1, height, width, 3)], share_weights=False
        )
        if choice.precision == INT8:
            if calibration is None:
                raise ValueError("int8 needs calibration photos to quantize the model")
            model = quantize_int8(model, calibration())
        if entry is not None:
            _publish(
                lambda to: ov.save_model(model, to / "model.xml", compress_to_fp16=False), entry
            )
            logger.info("OpenVINO model converted and cached in %s", entry)
    config = {
        # int8: the layers NNCF left in floating point run f32, as the gate measured them
        "INFERENCE_PRECISION_HINT": "bf16" if choice.precision == BF16 else "f32",
        "PERFORMANCE_HINT": "LATENCY",  # one batch at a time, all threads on it
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads.threads),
        # Never pinned: even a lone worker shares its host's cores with the web and the
        # database, and pinned threads queue behind them (bench_runtimes, EfficientNet-Lite0
        # at 50 clients, two A/B pairs: 59.2 -> 65.8 images/s with pinning off).
        "ENABLE_CPU_PINNING": "NO",
    }
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def forward(batch: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    return forward


def quantize_int8(model, calibration: np.ndarray):
    """NNCF post-training quantization of an OpenVINO model: int8 weights and activations,
    ranges from `calibration` (preprocessed photos), then bias correction.

    The first and the last layer with weights (the stem convolution, the classifier) stay in
    floating point, a common recipe: on EfficientNet-Lite0 it raised top-1 agreement with
    fp32 on the gate's photos from 80.8 % to 86.4 % for little speed.
    """
    _block_openvino_telemetry()  # NNCF sends telemetry through the same package
    import nncf

    nncf.set_log_level(logging.WARNING)  # its INFO lines go to stdout, before the start line
    weighted = [op for op in model.get_ordered_ops() if op.get_type_name() in WEIGHTED_OPS]
    kept = sorted({weighted[0].get_friendly_name(), weighted[-1].get_friendly_name()})
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
    progress = io.StringIO()  # NNCF draws progress bars on stdout: keep the worker's readable
    with contextlib.redirect_stdout(progress):
        quantized = nncf.quantize(
            model,
            dataset,
            subset_size=len(calibration),
            ignored_scope=nncf.IgnoredScope(names=kept, validate=False),
        )
    logger.info("quantized to int8 on %d calibration photos", len(calibration))
    return quantized


WEIGHTED_OPS = frozenset({"Convolution", "GroupConvolution", "MatMul"})


# --- ONNX Runtime -----------------------------------------------------------------------------


def _onnxruntime_forward(make_network, entry, input_size, threads: ThreadPlan) -> Forward:
    import onnxruntime as ort

    model_file = entry / "model.onnx" if entry is not None else None
    if model_file is not None and model_file.is_file():
        serialized = model_file.read_bytes()
        logger.info("ONNX model from cache %s", entry)
    else:
        serialized = convert_to_onnx(make_network(), input_size)
        if entry is not None:
            _publish(lambda folder: (folder / "model.onnx").write_bytes(serialized), entry)
            logger.info("ONNX model converted and cached in %s", entry)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle threads yield their core instead of spinning: the web, the database or another
    # worker on the host needs it (EfficientNet-Lite0 at 50 clients, two A/B pairs:
    # 54.5 -> 65.8 images/s with spinning off).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def forward(batch: np.ndarray) -> np.ndarray:
        feed = {input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return session.run(None, feed)[0]

    return forward


def convert_to_onnx(network, input_size: tuple[int, int]) -> bytes:
    """tf2onnx on the Keras model, any batch size."""
    import tensorflow as tf
    import tf2onnx

    height, width = input_size
    signature = (tf.TensorSpec((None, height, width, 3), tf.float32, name="images"),)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    proto, _ = tf2onnx.convert.from_keras(network, input_signature=signature, opset=ONNX_OPSET)
    return proto.SerializeToString()
