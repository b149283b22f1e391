"""The 1000 ImageNet class names in model output order, shipped in the repo, and how people
read them (`display_label`: the only label format of the pages, the admin and the API).

Keras's `decode_predictions` downloads this list at run time; we never do.
Regenerate with `scripts/generate_imagenet_labels.py`. Plain data: no Django, no TensorFlow.
"""

import json
from pathlib import Path

_LABELS_FILE = Path(__file__).resolve().parent / "data" / "imagenet_labels.json"

IMAGENET_CLASSES: tuple[dict, ...] = tuple(json.loads(_LABELS_FILE.read_text()))
IMAGENET_LABELS: tuple[str, ...] = tuple(entry["name"] for entry in IMAGENET_CLASSES)


def display_label(label: str) -> str:
    """ImageNet names use underscores ("tiger_cat"); people read "tiger cat"."""
    return label.replace("_", " ").strip()
