"""Which class builds each model of `classifier.catalog`; classes are imported lazily.

The keys and names live in `classifier.catalog` (the web side reads them without
TensorFlow); this module only adds how to build each model.
"""

from __future__ import annotations

import importlib

from classifier.catalog import MODEL_KEYS, UnknownModel, check_model_key

MODELS = {
    "resnet50": "mlworker.models.resnet:ResNet50Classifier",
    "efficientnet_lite0": "mlworker.models.efficientnet_lite:EfficientNetLite0",
}
assert tuple(MODELS) == MODEL_KEYS, "mlworker.catalog.MODELS and classifier.catalog disagree"

__all__ = ["MODELS", "UnknownModel", "load_model", "model_class"]


def model_class(key: str) -> type:
    module_path, class_name = MODELS[check_model_key(key)].split(":")
    return getattr(importlib.import_module(module_path), class_name)


def load_model(key: str, **options):
    """Import and build a model (this is where TensorFlow gets imported)."""
    return model_class(key)(**options)
