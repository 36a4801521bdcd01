"""CIFAR-style residual networks (He et al. 2016, section 4.2)."""

import keras
from keras import layers

from kdkeras.models.fused_batch_norm import FusedBatchNormalization
from kdkeras.models.preprocessing import input_with_normalization

RESNET_DEPTHS = (8, 14, 20, 26, 32, 44, 56, 110)


def _conv_bn(x, filters, strides, name, relu=True):
    x = layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    x = FusedBatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _basic_block(x, filters, strides, name):
    shortcut = x
    y = _conv_bn(x, filters, strides, f"{name}_1")
    y = _conv_bn(y, filters, 1, f"{name}_2", relu=False)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters,
            1,
            strides=strides,
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{name}_proj_conv",
        )(x)
        shortcut = FusedBatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet(depth, input_shape, num_classes, normalization=None, name=None):
    """Builds a CIFAR ResNet of `depth = 6n + 2` layers.

    Three stages of `n` basic blocks with 16, 32 and 64 channels; the
    first block of stages 2 and 3 halves the resolution, and its shortcut is
    a 1x1 projection (option B). Global average pooling and one dense layer
    give the logits.

    Args:
        depth: int, `6n + 2` (8, 14, 20, 26, 32, 44, 56, 110, ...).
        input_shape: `(height, width, channels)` of raw 0-255 pixels.
        num_classes: number of output logits.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`
            for plain scaling to 0-1. It is the model's first layer.
        name: model name, `resnet{depth}` by default.

    Example:

    ```python
    model = kdkeras.models.resnet(26, (32, 32, 3), 10)  # the study's teacher
    ```

    Returns:
        A functional `keras.Model` mapping pixels to logits.

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", 2016.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6n+2 with n >= 1, got {depth}.")
    blocks = (depth - 2) // 6
    inputs, x = input_with_normalization(input_shape, normalization)
    x = _conv_bn(x, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, strides, f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")
