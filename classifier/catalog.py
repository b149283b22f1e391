"""What the web side and the worker agree on, without importing TensorFlow or the worker.

The model keys and the dotted paths of the worker's jobs (the web enqueues by name, so it
never imports the worker). Which model a worker runs, and the name recorded on its
predictions, belong to the worker (`mlworker.catalog.model_name`); the web reads the names
live workers publish (`classifier.queueing`).
"""

from __future__ import annotations

MODEL_KEYS: tuple[str, ...] = ("resnet50", "efficientnet_lite0")

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
