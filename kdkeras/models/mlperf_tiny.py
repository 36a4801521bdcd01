"""MLPerf Tiny's image-classification ResNet-8, layer for layer as its reference model."""

import keras
from keras import layers

from kdkeras.models.fused_batch_norm import FusedBatchNormalization
from kdkeras.models.preprocessing import input_with_normalization


def _conv(x, filters, kernel_size, strides, name):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)


def _conv_bn(x, filters, strides, name, relu=True):
    x = _conv(x, filters, 3, strides, name)
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def mlperf_resnet8(input_shape, num_classes, normalization=None, name=None):
    """Builds the ResNet-8 of MLPerf Tiny's image-classification benchmark.

    Why a model of its own beside `resnet8`: the benchmark's line is this
    network, and kdkeras's `resnet8` differs from it where training sees
    it. Here every convolution has a bias, the 1x1 projection shortcuts
    have no batch norm, batch norm keeps Keras's defaults (momentum 0.99)
    and the dense layer starts he-normal. Folded for inference both have
    77,706 weights; in Keras this one has 78,666, as the reference's
    summary says.

    A 3x3 stem of 16 channels, then three stages of one residual block
    each (16, 32 and 64 channels; two 3x3 convolutions with batch norm;
    stages 2 and 3 halve the resolution and project the shortcut with a
    strided 1x1 convolution). The reference's 8x8 average pooling and
    flatten are a global average pooling here: the same mean, as one
    `MEAN` operator in a LiteRT file, where a Keras 3 flatten adds four
    shape operators a microcontroller build would have to carry. The
    reference's L2 of 1e-4 on the convolutions is left to the recipe's
    weight decay, and its softmax to the loss: the model gives logits.

    Args:
        input_shape: `(height, width, channels)` of raw 0-255 pixels.
        num_classes: number of output logits.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`
            for plain scaling to 0-1. It is the model's first layer. The
            reference has none and takes raw pixels; the first kernel
            absorbs a plain scaling exactly, and an exported file takes raw
            pixels either way.
        name: model name, `mlperf_resnet8` by default.

    Example:

    ```python
    student = kdkeras.models.get("mlperf_resnet8", (32, 32, 3), 10)
    ```

    Returns:
        A functional `keras.Model` mapping pixels to logits.

    Reference:
        Banbury et al., "MLPerf Tiny Benchmark", NeurIPS Datasets and
        Benchmarks 2021, arXiv 2106.07597; the model `resnet_v1_eembc` of
        github.com/mlcommons/tiny, benchmark/training/image_classification.
    """
    inputs, x = input_with_normalization(input_shape, normalization)
    x = _conv_bn(x, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        block = f"stage{stage + 1}_block1"
        strides = 1 if stage == 0 else 2
        y = _conv_bn(x, filters, strides, f"{block}_1")
        y = _conv_bn(y, filters, 1, f"{block}_2", relu=False)
        shortcut = x if stage == 0 else _conv(x, filters, 1, strides, f"{block}_proj")
        x = layers.Add(name=f"{block}_add")([shortcut, y])
        x = layers.ReLU(name=f"{block}_out")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, kernel_initializer="he_normal", name="logits")(x)
    return keras.Model(inputs, outputs, name=name or "mlperf_resnet8")
