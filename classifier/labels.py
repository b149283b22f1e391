"""The 1000 ImageNet class names in model output order, shipped in the repo.

Keras's `decode_predictions` downloads this list at run time; we never do.
Regenerate with `scripts/generate_imagenet_labels.py`.
"""

import json
from pathlib import Path

_LABELS_FILE = Path(__file__).resolve().parent / "data" / "imagenet_labels.json"

IMAGENET_CLASSES: tuple[dict, ...] = tuple(json.loads(_LABELS_FILE.read_text()))
IMAGENET_LABELS: tuple[str, ...] = tuple(entry["name"] for entry in IMAGENET_CLASSES)
