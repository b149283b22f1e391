"""Which models exist and what each is called, without importing TensorFlow.

The web process uses this to name the model it expects answers from (the cache key);
the worker uses it to build the model. Model classes are imported lazily.
"""

from __future__ import annotations

import importlib

from django.conf import settings

MODELS = {
    "resnet50": "mlworker.models.resnet:ResNet50Classifier",
    "efficientnet_lite0": "mlworker.models.efficientnet_lite:EfficientNetLite0",
}
RANDOM_WEIGHTS_SUFFIX = " (random weights)"


class UnknownModel(ValueError):
    pass


def check_model_key(key: str) -> str:
    if key not in MODELS:
        raise UnknownModel(f"Unknown model {key!r}; choose one of: {', '.join(sorted(MODELS))}.")
    return key


def model_name(key: str, *, resnet50_weights: str | None = None) -> str:
    """The name recorded on predictions. Random weights are never hidden."""
    check_model_key(key)
    weights = resnet50_weights if resnet50_weights is not None else settings.RESNET50_WEIGHTS
    if key == "resnet50" and weights == "random":
        return key + RANDOM_WEIGHTS_SUFFIX
    return key


def configured_model_name() -> str:
    return model_name(settings.CLASSIFIER_MODEL)


def load_model(key: str, **options):
    """Import and build a model (this is where TensorFlow gets imported)."""
    module_path, class_name = MODELS[check_model_key(key)].split(":")
    model_class = getattr(importlib.import_module(module_path), class_name)
    return model_class(**options)
