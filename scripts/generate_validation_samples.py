"""Write the photos a worker runs a new model version on (mlworker/data/validation_samples/).

Public-domain photos from scikit-image's `data` (a dev dependency), shrunk to 160 px on the
long side, so the worker needs neither scikit-image nor a download to validate a model.
Run: .venv/bin/python scripts/generate_validation_samples.py
"""

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

NAMES = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry")
OUT = Path(__file__).resolve().parent.parent / "mlworker" / "data" / "validation_samples"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        image = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
        image.thumbnail((160, 160))
        image.save(OUT / f"{name}.jpg", quality=85)
        print(OUT / f"{name}.jpg")


if __name__ == "__main__":
    main()
