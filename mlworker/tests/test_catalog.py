"""The web side's catalogue (classifier.catalog) and the worker agree on names and jobs."""

from rq.utils import import_attribute

from classifier import catalog
from mlworker import jobs
from mlworker.catalog import MODELS, model_class
from mlworker.models.base import ImageClassifier


def test_the_job_paths_the_web_enqueues_are_the_workers_functions():
    assert import_attribute(catalog.CLASSIFY_JOB) is jobs.classify_prediction
    assert import_attribute(catalog.FAILURE_CALLBACK) is jobs.record_job_failure


def test_every_model_key_has_a_model_class():
    assert tuple(MODELS) == catalog.MODEL_KEYS
    for key in catalog.MODEL_KEYS:
        assert issubclass(model_class(key), ImageClassifier)
