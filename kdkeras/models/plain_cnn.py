"""Plain (non-residual) CNNs of the teacher-assistant KD paper."""

import keras
from keras import layers

from kdkeras.models.fused_batch_norm import FusedBatchNormalization
from kdkeras.models.preprocessing import input_with_normalization

PLAIN_CNN_DEPTHS = (2, 4, 6, 8, 10)

_CHANNELS = {
    2: (16, 32),
    4: (16, 16, 32, 32),
    6: (16, 32, 32, 64, 64, 64),
    8: (16, 16, 32, 32, 64, 64, 128, 128),
    10: (32, 32, 64, 64, 128, 128, 256, 256, 256, 256),
}


def plain_cnn(depth, input_shape, num_classes, normalization=None, name=None):
    """Builds a plain CNN with `depth` convolutional layers.

    Convolutions of 3x3 with batch normalisation and ReLU, a 2x2 max-pool
    after every second convolution (while the map is larger than 2x2), then
    global average pooling and a dense layer, following the plain-CNN family
    of Mirzadeh et al. (2-, 4-, 6-, 8- and 10-layer networks).

    Args:
        depth: one of 2, 4, 6, 8, 10.
        input_shape: `(height, width, channels)` of raw 0-255 pixels.
        num_classes: number of output logits.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`.
        name: model name, `plain{depth}` by default.

    Returns:
        A functional `keras.Model` mapping pixels to logits.

    Example:

    ```python
    model = kdkeras.models.plain_cnn(4, (28, 28, 1), 10)
    ```

    Reference:
        Mirzadeh et al., "Improved Knowledge Distillation via Teacher
        Assistant", AAAI 2020, arXiv 1902.03393.
    """
    if depth not in _CHANNELS:
        raise ValueError(f"plain CNN depth must be one of {PLAIN_CNN_DEPTHS}, got {depth}.")
    inputs, x = input_with_normalization(input_shape, normalization)
    for index, filters in enumerate(_CHANNELS[depth]):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{index + 1}")(x)
        x = FusedBatchNormalization(momentum=0.9, name=f"bn{index + 1}")(x)
        x = layers.ReLU(name=f"relu{index + 1}")(x)
        if index % 2 == 1 and x.shape[1] > 2 and x.shape[2] > 2:
            x = layers.MaxPooling2D(2, name=f"pool{index + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"plain{depth}")
