"""Parameter and FLOP counts, for the cost tables of a comparison."""

import math

import keras


def count_params(model):
    """Returns the total number of weights (trainable and not) of `model`."""
    return int(sum(math.prod(w.shape) for w in model.weights))


def _output_size(layer):
    shape = layer.output.shape
    return math.prod(d for d in shape[1:] if d is not None)


def count_flops(model):
    """Returns the forward FLOPs of one example through `model`.

    Counted analytically from the layers, as 2 FLOPs per multiply-accumulate
    of convolutions and dense layers (the usual convention of ResNet cost
    tables), plus one per output element for batch normalisation, additions
    and pooling. Nested models are counted through.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += 2 * kh * kw * _output_size(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1] // layer.groups
            total += 2 * kh * kw * cin * _output_size(layer)
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
        elif isinstance(
            layer,
            (
                keras.layers.BatchNormalization,
                keras.layers.Add,
                keras.layers.GlobalAveragePooling2D,
                keras.layers.MaxPooling2D,
                keras.layers.Normalization,
                keras.layers.Rescaling,
            ),
        ):
            total += _output_size(layer)
    return int(total)
