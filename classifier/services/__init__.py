"""Business operations on predictions, by concern; views call them through this package.

- `admission`: room in the queue and the user's daily quota, before anything is read;
- `submission`: submit an upload (cache answer or enqueue) and wait for its answer;
- `deletion`: deleting a user's prediction and, when unused, its stored image.

Storing an upload's bytes is `classifier.storage`'s; what happens to a prediction once
queued is the worker's (`mlworker.lifecycle`).
"""

from classifier.services.admission import (
    QueueFull,
    QueueUnavailable,
    TooManyWaiting,
    UploadQuotaExceeded,
)
from classifier.services.deletion import delete_prediction, forget_image_when_unused
from classifier.services.submission import WaitSlotsFull, submit_prediction, wait_for_prediction
from classifier.storage import StorageUnavailable, clean_filename, store_image

__all__ = [
    "QueueFull",
    "QueueUnavailable",
    "StorageUnavailable",
    "TooManyWaiting",
    "UploadQuotaExceeded",
    "WaitSlotsFull",
    "clean_filename",
    "delete_prediction",
    "forget_image_when_unused",
    "store_image",
    "submit_prediction",
    "wait_for_prediction",
]
