"""EfficientNet-Lite0's architecture in Keras: a table of block specs and one block builder.

The network follows the TF original: ReLU6, no squeeze-excite, stem (32) and head (1280)
not scaled, "same" padding, batch-norm epsilon 1e-3. Layer names are stable, so weights
map onto them by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# --- Architecture -------------------------------------------------------------------------

BATCH_NORM_EPSILON = 1e-3  # TF original and the reference's GlobalParams both use 1e-3.
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class BlockSpec:
    """One stage of MBConv blocks; only the first block of a stage strides or changes width."""

    kernel_size: int
    repeats: int
    filters_in: int
    filters_out: int
    expand_ratio: int
    strides: int


# EfficientNet-Lite0 (width 1.0, depth 1.0): the B0 table without squeeze-excite.
LITE0_STAGES: tuple[BlockSpec, ...] = (
    BlockSpec(kernel_size=3, repeats=1, filters_in=32, filters_out=16, expand_ratio=1, strides=1),
    BlockSpec(kernel_size=3, repeats=2, filters_in=16, filters_out=24, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=5, repeats=2, filters_in=24, filters_out=40, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=3, repeats=3, filters_in=40, filters_out=80, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=5, repeats=3, filters_in=80, filters_out=112, expand_ratio=6, strides=1),
    BlockSpec(kernel_size=5, repeats=4, filters_in=112, filters_out=192, expand_ratio=6, strides=2),
    BlockSpec(kernel_size=3, repeats=1, filters_in=192, filters_out=320, expand_ratio=6, strides=1),
)


def iter_blocks(stages: tuple[BlockSpec, ...] = LITE0_STAGES) -> Iterator[tuple[str, BlockSpec]]:
    """Yield (layer-name prefix, spec) for every block, in the order the weights file numbers them.

    Prefixes follow keras.applications: `block1a_`, `block2a_`, `block2b_`, ...
    """
    for stage_index, stage in enumerate(stages, start=1):
        for repeat in range(stage.repeats):
            spec = stage
            if repeat > 0:
                spec = BlockSpec(
                    kernel_size=stage.kernel_size,
                    repeats=1,
                    filters_in=stage.filters_out,
                    filters_out=stage.filters_out,
                    expand_ratio=stage.expand_ratio,
                    strides=1,
                )
            yield f"block{stage_index}{chr(ord('a') + repeat)}_", spec


def conv_bn(
    x,
    name: str,
    *,
    kernel_size: int,
    filters: int | None = None,
    strides: int = 1,
    depthwise: bool = False,
    relu6: bool = True,
    batch_norm_folded: bool = False,
):
    """`{name}_conv`, batch norm `{name}_bn`, then ReLU6 (optional).

    With `batch_norm_folded` the batch norm is left out and the conv gets a bias instead:
    the inference-time form that `fold_batch_norm_into_convs` makes weights for.
    """
    from keras import layers

    options = dict(
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        use_bias=batch_norm_folded,
        name=f"{name}_conv",
    )
    conv = layers.DepthwiseConv2D(**options) if depthwise else layers.Conv2D(filters, **options)
    x = conv(x)
    if not batch_norm_folded:
        x = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{name}_bn")(x)
    if relu6:
        x = layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return x


def mbconv_block(x, spec: BlockSpec, prefix: str, batch_norm_folded: bool = False):
    """Inverted-residual block: 1x1 expand, depthwise kxk, 1x1 project, residual if shapes allow."""
    from keras import layers

    inputs = x
    if spec.expand_ratio != 1:
        x = conv_bn(
            x,
            prefix + "expand",
            kernel_size=1,
            filters=spec.filters_in * spec.expand_ratio,
            batch_norm_folded=batch_norm_folded,
        )
    x = conv_bn(
        x,
        prefix + "depthwise",
        kernel_size=spec.kernel_size,
        strides=spec.strides,
        depthwise=True,
        batch_norm_folded=batch_norm_folded,
    )
    x = conv_bn(
        x,
        prefix + "project",
        kernel_size=1,
        filters=spec.filters_out,
        relu6=False,
        batch_norm_folded=batch_norm_folded,
    )
    if spec.strides == 1 and spec.filters_in == spec.filters_out:
        x = layers.Add(name=prefix + "add")([x, inputs])
    return x


def build_efficientnet_lite0(input_size: int = 224, batch_norm_folded: bool = False):
    """The Keras functional model: normalized (N, H, W, 3) input, (N, 1000) softmax output."""
    import keras
    from keras import layers

    folded = batch_norm_folded
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = conv_bn(
        inputs, "stem", kernel_size=3, filters=STEM_FILTERS, strides=2, batch_norm_folded=folded
    )
    for prefix, spec in iter_blocks():
        x = mbconv_block(x, spec, prefix, batch_norm_folded=folded)
    x = conv_bn(x, "top", kernel_size=1, filters=HEAD_FILTERS, batch_norm_folded=folded)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Dropout (0.2) only acts in training, so the inference graph leaves it out.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")
