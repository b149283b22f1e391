"""Writes to the registry, by concern; the admin, the forms and the commands call them through
this package.

- `registration`: check and register a version (its file stored under its digest);
- `validation`: queue the worker's check of a version and record its verdict;
- `serving`: promote, roll back, and publish the live version to the workers;
- `trials`: put a candidate on trial (shadow or canary) and end it.

Every step leaves a `ModelEvent` (who, what, when). Nothing here loads a model: a new version
is handed to a worker (`spec.VALIDATE_JOB`), which reports back through `record_validation`.
The live version's id is published in the queue's Redis (`spec.LIVE_VERSION_KEY`) after each
change commits, which is how workers notice it.
"""

from registry.services.registration import (
    Registration,
    check_registration,
    register,
    register_version,
)
from registry.services.serving import (
    PromotionRefused,
    promote_version,
    publish_live_version,
    rollback,
)
from registry.services.trials import TrialRefused, end_trial, start_trial
from registry.services.validation import record_validation, request_validation, revalidate

__all__ = [
    "PromotionRefused",
    "Registration",
    "TrialRefused",
    "check_registration",
    "end_trial",
    "promote_version",
    "publish_live_version",
    "record_validation",
    "register",
    "register_version",
    "request_validation",
    "revalidate",
    "rollback",
    "start_trial",
]
