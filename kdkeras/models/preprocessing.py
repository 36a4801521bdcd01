"""The first layers every registry model shares: raw pixels in, normalised out."""

import keras
import numpy as np


def input_with_normalization(input_shape, normalization=None):
    """Returns `(inputs, x)`: a pixel input and its normalised tensor.

    Pipelines yield raw 0-255 pixels, so that a saved or exported model
    takes what a camera gives; the normalisation lives in the model.

    Args:
        input_shape: `(height, width, channels)`.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`
            to scale pixels to 0-1.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    if normalization is None:
        x = keras.layers.Rescaling(1.0 / 255.0, name="normalize")(inputs)
    else:
        mean, std = (np.asarray(v, dtype="float32") * 255.0 for v in normalization)
        channels = input_shape[-1]
        mean = np.broadcast_to(mean, (channels,))
        std = np.broadcast_to(std, (channels,))
        x = keras.layers.Normalization(mean=mean.tolist(), variance=(std**2).tolist(), name="normalize")(inputs)
    return inputs, x
