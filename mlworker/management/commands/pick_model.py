"""Print the model the quick start should use when CLASSIFIER_MODEL is not set.

ResNet50 when its ImageNet weights are cached or can be downloaded now; otherwise
EfficientNet-Lite0 (weights ship in a package), announced loudly on stderr.
"""

import subprocess
import sys

from django.core.management.base import BaseCommand

from mlworker.models.resnet import cached_imagenet_weights

DOWNLOAD_TIMEOUT_SECONDS = 300


class Command(BaseCommand):
    help = "Print 'resnet50' or 'efficientnet_lite0' for the quick start."

    def handle(self, *args, **options):
        if cached_imagenet_weights() or self.download_resnet50_weights():
            self.stdout.write("resnet50")
            return
        self.stderr.write(
            self.style.WARNING(
                "\n*** ResNet50's ImageNet weights are not cached and cannot be downloaded now: "
                "starting with EfficientNet-Lite0 (pretrained, offline). To use ResNet50, run "
                "once with network access or set RESNET50_WEIGHTS=/path/to/weights.h5, then "
                "CLASSIFIER_MODEL=resnet50. ***\n"
            )
        )
        self.stdout.write("efficientnet_lite0")

    def download_resnet50_weights(self) -> bool:
        """Let keras download and cache the weights, in a child so a hang cannot block us."""
        self.stderr.write("Looking for ResNet50 ImageNet weights (keras download)…")
        code = "from keras.applications import ResNet50; ResNet50(weights='imagenet')"
        try:
            result = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                timeout=DOWNLOAD_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0
