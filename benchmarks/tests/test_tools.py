"""The benchmarks' shared pieces do what the measurements rely on."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from benchmarks.load import photos


def test_every_upload_from_the_photo_pool_is_new_bytes_and_a_valid_jpeg():
    pool = photos.PhotoPool.build(3, seed=1)
    uploads = [pool.unique_jpeg(index) for index in range(6)] + [pool.fresh_jpeg()]
    assert len(set(uploads)) == len(uploads)
    for content in uploads:
        with Image.open(io.BytesIO(content)) as image:
            assert image.format == "JPEG"
            image.load()


def test_profile_shares_count_a_step_once_per_sampled_stack():
    from benchmarks.profile_web import step_shares

    view = "APIView.dispatch (/venv/rest_framework/views.py:500)"
    submit = "submit_prediction (/repo/classifier/services/submission.py:37)"
    lookup = "finished_prediction_for_image (/repo/classifier/selectors.py:23)"
    raw = "\n".join(
        [
            f"{view};{submit};{lookup};{submit} 3",  # recursion: submit counted once
            f"{view};{submit} 1",
            f"{view} 4",
        ]
    )
    samples, shares = step_shares(raw)
    assert samples == 8
    assert shares["    submit_prediction"] == pytest.approx(4 / 8)
    assert shares["      result-cache lookup (query)"] == pytest.approx(3 / 8)
    assert shares["    serialize the answer"] == 0
