"""Feeding any network a batch given at the data's resolution.

The batch is given at the data's resolution; each network's input layer
decides what it gets. `resize_to` resizes bilinearly to a network's input
height and width (nothing when they are the same or not fixed); `logits`
also runs a keras-hub task's own preprocessor (which `task(x)` skips) and
turns a softmax output into log-probabilities.
"""

import keras

# Probabilities are clipped here before the log, so a zero probability
# gives a large negative logit instead of -inf.
PROBABILITY_FLOOR = 1e-7


def _shape(shape):
    return "x".join("?" if d is None else str(d) for d in shape)


def input_shape_of(model):
    """The `(height, width, channels)` `model` takes, `None` where not fixed."""
    try:
        shape = model.inputs[0].shape if getattr(model, "inputs", None) else model.input_shape
    except (AttributeError, ValueError):  # a subclassed model never called on pixels
        return None
    return tuple(shape[1:]) if shape is not None and len(shape) == 4 else None


def check_channels(model, other, role, other_role):
    """Raises `ValueError` unless `model` and `other` take as many channels (one line naming both)."""
    shape, other_shape = input_shape_of(model), input_shape_of(other)
    if shape and other_shape and None not in (shape[-1], other_shape[-1]) and shape[-1] != other_shape[-1]:
        raise ValueError(
            f"the {role} {model.name!r} takes {_shape(shape)} images and the {other_role} {other.name!r} "
            f"{_shape(other_shape)}: {shape[-1]} channels against {other_shape[-1]}; they must see the same images "
            "(resizing changes height and width, never channels)"
        )


def resize_to(model, images):
    """`images` resized (bilinear) to `model`'s input height and width; unchanged when they agree."""
    shape = input_shape_of(model)
    if shape is None:
        return images
    height, width, channels = shape
    if channels is not None and images.shape[-1] is not None and images.shape[-1] != channels:
        raise ValueError(
            f"{model.name!r} takes {_shape(shape)} images, got a batch of {_shape(tuple(images.shape[1:]))}: "
            f"{images.shape[-1]} channels against {channels}"
        )
    if None in (height, width) or tuple(images.shape[1:3]) == (height, width):
        return images
    return keras.ops.image.resize(images, (height, width), interpolation="bilinear")


def _last_activation(model):
    layer = model.layers[-1] if getattr(model, "layers", None) else None
    if isinstance(layer, keras.Model):
        return _last_activation(layer)
    if isinstance(layer, keras.layers.Softmax):
        return keras.activations.softmax
    return getattr(layer, "activation", None)


def gives_probabilities(model):
    """Whether `model`'s last layer is a softmax (Keras Applications' default top)."""
    return _last_activation(model) is keras.activations.softmax


def logits(model, images, training=False):
    """`model`'s logits for `images` given at the data's resolution.

    A keras-hub task (a model with a `preprocessor`) gets its own
    preprocessing, which resizes to its image size; any other model gets
    `resize_to`. A softmax output is returned as log-probabilities, which
    are logits of the same distribution at every temperature, since a
    softmax is unchanged by adding a constant to all logits.
    """
    preprocessor = getattr(model, "preprocessor", None)
    images = preprocessor(images) if preprocessor is not None else resize_to(model, images)
    outputs = keras.ops.cast(model(images, training=training), "float32")
    if gives_probabilities(model):
        return keras.ops.log(keras.ops.clip(outputs, PROBABILITY_FLOOR, 1.0))
    return outputs
