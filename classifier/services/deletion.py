"""Deleting a user's prediction, and its stored image once nothing else uses the bytes."""

from __future__ import annotations

import logging
from uuid import UUID

from django.core.files.storage import default_storage
from django.db import transaction

from accounts.types import Requester
from classifier import selectors
from classifier.models import Prediction

logger = logging.getLogger(__name__)


def delete_prediction(*, user: Requester, prediction_id: UUID | str) -> bool:
    """Delete one of the user's own predictions (its feedback goes with it).

    False when the user has no such prediction (someone else's is the same as none).
    The stored image is removed once no prediction references those bytes any more
    (see `forget_image_when_unused`, run for every deleted prediction).
    """
    with transaction.atomic():
        deleted, _ = selectors.predictions_visible_to(user=user).filter(pk=prediction_id).delete()
    return deleted > 0


def forget_image_when_unused(*, name: str) -> None:
    """After the deleting transaction commits: delete the stored file if nothing uses it.

    Identical bytes share one file, so the file outlives a deleted prediction while any
    other prediction (another user's upload of the same photo, or a cached answer)
    still references it. Deleted through the storage API, so it works on any backend.
    """

    def delete_if_unused() -> None:
        if Prediction.objects.filter(image=name).exists():
            return
        try:
            default_storage.delete(name)
        except OSError as error:
            logger.warning("could not delete unused image %s: %s", name, error)

    transaction.on_commit(delete_if_unused)
