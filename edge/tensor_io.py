"""Pixels into a `.tflite` file's input tensor and logits out of its output, in its own number format.

LiteRT and TFLite Micro take the same int8 input and give the same int8 output, so both measure a file
through these two functions.
"""

import numpy as np


def to_input(pixels, detail):
    """Raw 0-255 float pixels as the input tensor takes them (quantised for int8)."""
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        return np.clip(np.round(pixels / scale + zero_point), -128, 127).astype(np.int8)
    return pixels.astype(detail["dtype"])


def from_output(values, detail):
    """The output tensor's values as float32 logits (dequantised for int8)."""
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)
