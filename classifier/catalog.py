"""What the web side and the worker agree on, without importing TensorFlow or the worker.

The model keys and the names recorded on predictions (the result cache key), and the
dotted paths of the worker's jobs (the web enqueues by name, so it never imports the
worker). `mlworker.catalog` maps each key here to the class that builds the model.
"""

from __future__ import annotations

from django.conf import settings

from classifier.runtimes import InferenceChoice, configured_choice

MODEL_KEYS: tuple[str, ...] = ("resnet50", "efficientnet_lite0")
RANDOM_WEIGHTS_SUFFIX = " (random weights)"

# The worker's job functions, by dotted path (a test checks that they import).
CLASSIFY_JOB = "mlworker.jobs.classify_prediction"
FAILURE_CALLBACK = "mlworker.jobs.record_job_failure"


class UnknownModel(ValueError):
    pass


def check_model_key(key: str) -> str:
    if key not in MODEL_KEYS:
        choices = ", ".join(sorted(MODEL_KEYS))
        raise UnknownModel(f"Unknown model {key!r}; choose one of: {choices}.")
    return key


def model_name(
    key: str, *, resnet50_weights: str | None = None, choice: InferenceChoice | None = None
) -> str:
    """The name recorded on predictions: the model, then the runtime and precision unless
    TensorFlow fp32 (`resnet50+openvino-fp32`). Random weights are never hidden."""
    check_model_key(key)
    weights = resnet50_weights if resnet50_weights is not None else settings.RESNET50_WEIGHTS
    choice = choice if choice is not None else configured_choice()
    name = key + choice.name_suffix
    if key == "resnet50" and weights == "random":
        return name + RANDOM_WEIGHTS_SUFFIX
    return name


def configured_model_name() -> str:
    return model_name(settings.CLASSIFIER_MODEL)
