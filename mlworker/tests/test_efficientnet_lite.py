"""EfficientNet-Lite0 on real photos, with no torch and no database.

Expected labels are the ones the PyTorch reference also gives (see
docs/EFFICIENTNET_LITE0.md); photos it gets wrong (e.g. astronaut) are not asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_image

from classifier.labels import IMAGENET_LABELS
from mlworker.models import efficientnet_lite
from mlworker.models.efficientnet_lite import (
    EfficientNetLite0,
    build_efficientnet_lite0,
    center_crop_box,
    convert_weights,
    default_weights_path,
    load_converted_weights,
    read_torch_state_dict,
    set_weights_by_name,
)

CAT_LABELS = {"tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"}

PHOTOS = {
    "chelsea": lambda: data.chelsea(),
    "coffee": lambda: data.coffee(),
    "camera": lambda: data.camera(),
    "rocket": lambda: data.rocket(),
    "motorcycle": lambda: data.stereo_motorcycle()[0],
    "china": lambda: load_sample_image("china.jpg"),
    "flower": lambda: load_sample_image("flower.jpg"),
}

EXPECTED_TOP1 = {
    "chelsea": CAT_LABELS,
    "coffee": {"espresso", "cup", "coffee_mug"},
    "camera": {"tripod", "reflex_camera", "Polaroid_camera"},  # a photographer at a tripod
    "rocket": {"missile", "projectile", "space_shuttle"},
    "motorcycle": {"moped", "motor_scooter", "crash_helmet"},
    "china": {"palace", "monastery", "stupa", "bell_cote"},
    "flower": {"daisy", "pot", "vase"},
}


def photo(name: str) -> Image.Image:
    return Image.fromarray(PHOTOS[name]()).convert("RGB")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def model(cache_dir):
    return EfficientNetLite0(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def photo_batch(model):
    return np.stack([model.preprocess(photo(name)) for name in PHOTOS])


def test_expected_labels_are_imagenet_labels():
    assert set().union(*EXPECTED_TOP1.values()) <= set(IMAGENET_LABELS)


@pytest.mark.parametrize("name", sorted(EXPECTED_TOP1))
def test_real_photo_gets_the_right_kind_of_label(model, name):
    [top] = model.classify([photo(name)], k=5)
    assert top[0].label in EXPECTED_TOP1[name], [s.label for s in top]


def test_the_cat_is_all_cats_in_the_top_three(model):
    [top] = model.classify([photo("chelsea")], k=3)
    assert {s.label for s in top} <= CAT_LABELS


def test_coffee_is_confidently_espresso(model):
    [top] = model.classify([photo("coffee")], k=1)
    assert top[0].label == "espresso"
    assert top[0].score > 0.9


def test_batch_and_single_image_answers_agree(model, photo_batch):
    batched = model.predict_batch(photo_batch)
    for row, single_input in zip(batched, photo_batch, strict=True):
        single = model.predict_batch(single_input[np.newaxis])[0]
        assert np.argmax(single) == np.argmax(row)
        np.testing.assert_allclose(single, row, atol=1e-4)


def test_probabilities_are_a_distribution(model, photo_batch):
    probabilities = model.predict_batch(photo_batch)
    assert probabilities.shape == (len(PHOTOS), 1000)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("size", [0, 1, 3, 5])
def test_predict_batch_accepts_any_batch_size(model, photo_batch, size):
    batch = np.resize(photo_batch, (size, *photo_batch.shape[1:]))
    assert model.predict_batch(batch).shape == (size, 1000)


def test_predict_batch_rejects_a_wrong_shape(model):
    with pytest.raises(ValueError, match="expected a batch"):
        model.predict_batch(np.zeros((1, 256, 256, 3), np.float32))


def test_preprocess_makes_a_normalized_224_square_from_any_mode(model):
    for image in (
        photo("chelsea"),
        Image.fromarray(data.camera()),
        photo("coffee").convert("RGBA"),
    ):
        array = model.preprocess(image)
        assert array.shape == (224, 224, 3)
        assert array.dtype == np.float32
        # (x - 127) / 128 of 0..255 pixels, plus a little bicubic overshoot
        assert -1.3 < array.min() < 0 < array.max() < 1.3


def test_center_crop_box_keeps_seven_eighths_of_the_short_side_centred():
    # 224 / (224 + 32) = 0.875: side int(0.875 * 384) = 336; odd margins put the extra
    # pixel before the crop, as (h - side + 1) // 2 does in the TF original
    assert center_crop_box(width=512, height=384, image_size=224) == (88, 24, 424, 360)
    assert center_crop_box(width=451, height=300, image_size=224) == (95, 19, 357, 281)


def test_weight_cache_is_written_once_and_reused(model, cache_dir, monkeypatch):
    assert model.cache_path.parent == cache_dir
    assert model.cache_path.is_file()
    written_at = model.cache_path.stat().st_mtime_ns

    def must_not_read(path):
        raise AssertionError(f"re-read {path} although the cache exists")

    monkeypatch.setattr(efficientnet_lite.weights, "read_torch_state_dict", must_not_read)
    second = EfficientNetLite0(cache_dir=cache_dir)

    assert model.cache_path.stat().st_mtime_ns == written_at
    assert list(cache_dir.iterdir()) == [model.cache_path]  # no stray temporary files
    image = model.preprocess(photo("coffee"))[np.newaxis]
    np.testing.assert_allclose(second.predict_batch(image), model.predict_batch(image), atol=1e-6)


def test_an_unreadable_cache_is_converted_again(tmp_path):
    cache_path = efficientnet_lite.cache_path_for(default_weights_path(), tmp_path)
    cache_path.write_bytes(b"half a file")
    weights = efficientnet_lite.load_or_convert_weights(default_weights_path(), tmp_path)
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)
    assert load_converted_weights(cache_path).keys() == weights.keys()


def test_cache_dir_is_the_model_cache_dir_setting(settings, tmp_path):
    settings.MODEL_CACHE_DIR = tmp_path
    assert efficientnet_lite.default_cache_dir() == tmp_path


def test_read_torch_state_dict_reads_the_shipped_legacy_file():
    state = read_torch_state_dict(default_weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].shape == ()
    assert all(array.flags.c_contiguous for array in state.values())


def test_convert_weights_lays_out_kernels_for_keras():
    state = read_torch_state_dict(default_weights_path())
    weights = convert_weights(state)
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)  # (kh, kw, in, out)
    assert weights["block7a_depthwise_conv"][0].shape == (3, 3, 1152, 1)  # (kh, kw, channels, 1)
    assert weights["predictions"][0].shape == (1280, 1000)
    out_channel, in_channel, row, col = 5, 2, 1, 0
    assert (
        weights["stem_conv"][0][row, col, in_channel, out_channel]
        == state["_conv_stem.weight"][out_channel, in_channel, row, col]
    )
    keras_batch_norm_order = ("weight", "bias", "running_mean", "running_var")
    for converted, part in zip(weights["top_bn"], keras_batch_norm_order, strict=True):
        np.testing.assert_array_equal(converted, state[f"_bn1.{part}"])


def test_folding_batch_norm_into_convs_keeps_the_answers(model, photo_batch):
    """The classifier runs the folded graph; the as-trained graph (with batch norms) agrees."""
    as_trained = build_efficientnet_lite0()
    set_weights_by_name(as_trained, load_converted_weights(model.cache_path))
    expected = as_trained(photo_batch, training=False).numpy()
    np.testing.assert_allclose(model.predict_batch(photo_batch), expected, atol=1e-5)
