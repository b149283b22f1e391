"""What the web and the worker agree on about a model version, as plain data (no TensorFlow).

The formats a version's file may have, the preprocessing presets, the rule for a label file,
and the dotted path of the worker's validation job. `mlworker.models.custom` turns a preset
into arithmetic; the admin, `import_model` and the API only name them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.utils.translation import gettext as _

#: the worker's job that loads and checks a newly registered version
VALIDATE_JOB = "mlworker.jobs.validate_model_version"
#: the queue's Redis key holding the live version's id ("none": the worker's own built-in)
LIVE_VERSION_KEY = "registry:live-version"
NO_LIVE_VERSION = "none"

#: a candidate's trials: shadow runs it on a share of uploads beside the live version (its
#: answers kept apart, never shown); canary answers a share of users with it
SHADOW, CANARY = "shadow", "canary"


def share_bucket(trial: str, key: object) -> int:
    """0–99, fixed for (trial, key): a key is in a trial of share s when its bucket < s.

    SHA-256 rather than Python's `hash`, which differs between processes: the web and every
    worker (and a test) compute the same bucket. Salted by the trial so a user's canary
    bucket says nothing about their uploads' shadow buckets.
    """
    digest = hashlib.sha256(f"{trial}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def in_share(trial: str, key: object, share: int) -> bool:
    """Is `key` (a prediction id for shadow, a user id for canary) in a share of `share` %?"""
    return share_bucket(trial, key) < share


KERAS, H5, SAVEDMODEL, ONNX, BUILTIN = "keras", "h5", "savedmodel", "onnx", "builtin"
#: a file's suffix → its format. A SavedModel is a folder, so it comes zipped.
FORMAT_BY_SUFFIX = {".keras": KERAS, ".h5": H5, ".zip": SAVEDMODEL, ".onnx": ONNX}
#: formats that can run arbitrary code when loaded; never accepted
REFUSED_SUFFIXES = frozenset({".pkl", ".pickle", ".pt", ".pth", ".bin", ".joblib", ".npy"})


@dataclass(frozen=True)
class Preset:
    """How pixels (RGB, 0–255, resized to the input size) become the model's input.

    `scale` divides first, then `mean` is subtracted and the result divided by `std`, per
    channel; `bgr` swaps the channels first (Keras's `caffe` mode).
    """

    key: str
    description: str
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bgr: bool = False


PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            "caffe",
            "Keras 'caffe': RGB→BGR, minus the ImageNet mean (BGR 103.939, 116.779, 123.68)",
            mean=(103.939, 116.779, 123.68),
            bgr=True,
        ),
        Preset(
            "torch",
            "Keras 'torch': /255, minus mean (0.485, 0.456, 0.406), / std (0.229, 0.224, 0.225)",
            scale=255.0,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
        ),
        Preset("tf", "Keras 'tf': /127.5 − 1, so [-1, 1]", scale=127.5, mean=(1.0, 1.0, 1.0)),
        Preset("unit", "[0, 1]: /255", scale=255.0),
        Preset("raw", "[0, 255] as is (the model rescales itself)"),
        Preset("meanstd", "/255, minus your mean, / your std (per channel, on the [0, 1] scale)"),
    )
}
MEANSTD = "meanstd"


class InvalidSpec(ValueError):
    """A registration that cannot be accepted; the message says what to fix."""


def preset_for(key: str, *, mean=None, std=None) -> Preset:
    """The preset `key`, with the caller's mean/std for `meanstd` (required there only)."""
    if key not in PRESETS:
        raise InvalidSpec(
            _("Unknown preprocessing %(key)r; choose one of: %(choices)s.")
            % {"key": key, "choices": ", ".join(PRESETS)}
        )
    base = PRESETS[key]
    if key != MEANSTD:
        return base
    values = []
    for what, given in (("mean", mean), ("std", std)):
        try:
            triple = tuple(float(v) for v in given)
        except (TypeError, ValueError):
            triple = ()
        if len(triple) != 3 or (what == "std" and min(triple) <= 0):
            raise InvalidSpec(
                _("Preprocessing 'meanstd' needs a %(what)s of three numbers (std above 0).")
                % {"what": what}
            )
        values.append(triple)
    return Preset(MEANSTD, base.description, scale=255.0, mean=values[0], std=values[1])


def format_for_filename(filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix in REFUSED_SUFFIXES:
        raise InvalidSpec(
            _(
                "%(suffix)s files can run code when loaded (pickle); export the model as "
                ".keras, .h5, a zipped SavedModel or .onnx."
            )
            % {"suffix": suffix}
        )
    if suffix not in FORMAT_BY_SUFFIX:
        raise InvalidSpec(
            _("Unsupported model file %(name)r: use .keras, .h5, a zipped SavedModel or .onnx.")
            % {"name": PurePosixPath(filename).name}
        )
    return FORMAT_BY_SUFFIX[suffix]


MAX_LABEL_LENGTH = 100  # Prediction.label's column


def parse_labels(text: str) -> list[str]:
    """One label per line, in output order; blank lines and surrounding spaces ignored.

    At least two, each unique and at most MAX_LABEL_LENGTH characters.
    """
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) < 2:
        raise InvalidSpec(_("A label file needs at least two labels, one per line."))
    seen: set[str] = set()
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidSpec(
                _("Label %(label)r is longer than %(n)d characters.")
                % {"label": label[:40] + "…", "n": MAX_LABEL_LENGTH}
            )
        if label in seen:
            raise InvalidSpec(_("Label %(label)r appears twice.") % {"label": label})
        seen.add(label)
    return labels
