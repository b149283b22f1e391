"""EfficientNet-Lite0, pretrained on ImageNet, rebuilt in Keras with weights read offline.

One module per concern: `architecture` (block table and builder), `torch_reader` (the
shipped .pth, read without torch), `weights` (conversion to Keras, batch-norm folding,
the once-per-install cache) and `classifier` (`EfficientNetLite0`: preprocessing and the
forward pass). The names below keep `mlworker.models.efficientnet_lite.X` working.
"""

from mlworker.models.efficientnet_lite.architecture import (
    LITE0_STAGES,
    NUM_CLASSES,
    BlockSpec,
    build_efficientnet_lite0,
    iter_blocks,
)
from mlworker.models.efficientnet_lite.classifier import EfficientNetLite0, center_crop_box
from mlworker.models.efficientnet_lite.torch_reader import read_torch_state_dict
from mlworker.models.efficientnet_lite.weights import (
    cache_path_for,
    convert_weights,
    default_cache_dir,
    default_weights_path,
    fold_batch_norm_into_convs,
    load_converted_weights,
    load_or_convert_weights,
    save_converted_weights,
    set_weights_by_name,
)

__all__ = [
    "LITE0_STAGES",
    "NUM_CLASSES",
    "BlockSpec",
    "EfficientNetLite0",
    "build_efficientnet_lite0",
    "cache_path_for",
    "center_crop_box",
    "convert_weights",
    "default_cache_dir",
    "default_weights_path",
    "fold_batch_norm_into_convs",
    "iter_blocks",
    "load_converted_weights",
    "load_or_convert_weights",
    "read_torch_state_dict",
    "save_converted_weights",
    "set_weights_by_name",
]
