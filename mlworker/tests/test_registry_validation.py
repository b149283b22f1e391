"""A worker's check of newly registered versions (mlworker.validation), in this process.

The end-to-end path (admin → a worker process → live → uploads) is in
test_registry_serving.py; here each kind of file meets the validation code directly.
"""

from __future__ import annotations

import pytest

from mlworker.tests.tiny_models import color_model, labels_file
from mlworker.validation import validate_version
from registry import services
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


def register(tmp_path, model_path, labels=("red", "green", "blue"), name="colors"):
    with open(model_path, "rb") as content:
        return services.register_version(
            name=name,
            content=content,
            filename=model_path.name,
            labels_text=labels_file(tmp_path / "labels.txt", labels).read_text(),
            preprocessing="unit",
            input_size=(32, 32),
        )


def test_a_good_keras_model_is_ready_with_what_validation_saw(tmp_path, settings):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    version = register(tmp_path, color_model(tmp_path / "colors.keras"))
    assert validate_version(version.pk)
    version.refresh_from_db()
    assert version.state == "ready" and version.failure_reason == ""
    assert version.report["outputs"] == "probabilities"
    assert {sample["label"] for sample in version.report["samples"]} <= {"red", "green", "blue"}
    assert list(version.events.values_list("action", flat=True)) == ["validated", "registered"]


def test_logits_are_recognised(tmp_path, settings):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    version = register(tmp_path, color_model(tmp_path / "logits.keras", logits=True))
    assert validate_version(version.pk)
    version.refresh_from_db()
    assert version.report["outputs"] == "logits"


def test_an_onnx_model_is_ready(tmp_path, settings):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    version = register(tmp_path, color_model(tmp_path / "colors.onnx", fmt="onnx"))
    assert validate_version(version.pk)
    version.refresh_from_db()
    assert version.state == "ready" and version.report["runtime"] == "onnxruntime"


@pytest.mark.parametrize(
    ("outputs", "labels", "message"),
    [
        (4, ("red", "green", "blue"), "outputs (4,) scores per image but the version has 3"),
        (3, ("red", "green"), "outputs (3,) scores per image but the version has 2"),
    ],
)
def test_output_width_must_equal_the_label_count(tmp_path, settings, outputs, labels, message):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    live = ModelVersion.objects.create(
        name="live-one", version=1, format="keras", labels=["a", "b"], state="live"
    )
    version = register(tmp_path, color_model(tmp_path / "m.keras", outputs=outputs), labels)
    assert not validate_version(version.pk)
    version.refresh_from_db()
    assert version.state == "failed" and message in version.failure_reason
    assert ModelVersion.objects.get(state="live").pk == live.pk


def test_a_zip_that_is_no_keras_model_fails_with_the_loaders_reason(tmp_path, settings):
    import zipfile

    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    fake = tmp_path / "fake.keras"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    version = register(tmp_path, fake)
    assert not validate_version(version.pk)
    version.refresh_from_db()
    assert version.state == "failed"
    assert version.failure_reason.startswith("Keras could not load this file")


def test_a_lambda_layer_is_refused_by_safe_mode(tmp_path, settings):
    import keras

    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(pooled)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    version = register(tmp_path, path)
    assert not validate_version(version.pk)
    version.refresh_from_db()
    assert version.state == "failed" and "Keras could not load" in version.failure_reason


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_a_keras_file_on_a_converted_runtime_is_checked_against_keras(tmp_path, settings, runtime):
    from mlworker.models.backends import configured_threads
    from mlworker.registry_loader import RuntimeContext
    from mlworker.runtimes import choose

    context = RuntimeContext(choose(runtime, "fp32"), configured_threads(), tmp_path / "cache")
    version = register(tmp_path, color_model(tmp_path / "colors.keras"))
    assert validate_version(version.pk, context)
    version.refresh_from_db()
    assert version.report["runtime"] == runtime
    assert version.report["agrees_with_keras"] == f"{runtime} = keras on 6 samples"
    # The conversion is cached under the file's digest, for the workers that serve it.
    cached = list((tmp_path / "cache" / "converted").iterdir())
    assert len(cached) == 1 and version.sha256[:16] in cached[0].name
