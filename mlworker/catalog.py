"""Which class builds each model of `classifier.catalog`, and the name its predictions carry.

The keys live in `classifier.catalog` (the web side reads them without TensorFlow); this
module adds how to build each model and what it is called. Classes are imported lazily.
"""

from __future__ import annotations

import importlib

from django.conf import settings

from classifier.catalog import MODEL_KEYS, UnknownModel, check_model_key
from mlworker.runtimes import InferenceChoice, configured_choice

MODELS = {
    "resnet50": "mlworker.models.resnet:ResNet50Classifier",
    "efficientnet_lite0": "mlworker.models.efficientnet_lite:EfficientNetLite0",
}
assert tuple(MODELS) == MODEL_KEYS, "mlworker.catalog.MODELS and classifier.catalog disagree"
RANDOM_WEIGHTS_SUFFIX = " (random weights)"

__all__ = ["MODELS", "UnknownModel", "load_model", "model_class", "model_name"]


def model_name(
    key: str, *, resnet50_weights: str | None = None, choice: InferenceChoice | None = None
) -> str:
    """The name recorded on predictions and published while the worker lives: the model,
    then the runtime and precision unless TensorFlow fp32 (`resnet50+openvino-fp32`).
    Random weights are never hidden."""
    check_model_key(key)
    weights = resnet50_weights if resnet50_weights is not None else settings.RESNET50_WEIGHTS
    choice = choice if choice is not None else configured_choice()
    name = key + choice.name_suffix
    if key == "resnet50" and weights == "random":
        return name + RANDOM_WEIGHTS_SUFFIX
    return name


def model_class(key: str) -> type:
    module_path, class_name = MODELS[check_model_key(key)].split(":")
    return getattr(importlib.import_module(module_path), class_name)


def load_model(key: str, **options):
    """Import and build a model (this is where TensorFlow gets imported)."""
    return model_class(key)(**options)
