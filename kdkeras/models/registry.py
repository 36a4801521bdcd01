"""Models by name: `get("resnet8", input_shape, num_classes)`."""

import functools
import re

from kdkeras.models.plain_cnn import PLAIN_CNN_DEPTHS, plain_cnn
from kdkeras.models.resnet import RESNET_DEPTHS, resnet

_BUILDERS = {}
for _depth in RESNET_DEPTHS:
    _BUILDERS[f"resnet{_depth}"] = functools.partial(resnet, _depth)
for _depth in PLAIN_CNN_DEPTHS:
    _BUILDERS[f"plain{_depth}"] = functools.partial(plain_cnn, _depth)


def names():
    """Returns the registered architecture names, smallest family member first."""
    return sorted(_BUILDERS, key=lambda n: (re.sub(r"\d+", "", n), int(re.sub(r"\D", "", n))))


def register(name, builder):
    """Adds `builder(input_shape, num_classes, normalization=None)` as `name`."""
    _BUILDERS[name] = builder


def get(name, input_shape, num_classes, normalization=None):
    """Builds the architecture `name` for pixels of `input_shape`.

    Args:
        name: a registered name, see `names()`.
        input_shape: `(height, width, channels)` of raw 0-255 pixels.
        num_classes: number of output logits.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`.

    Raises:
        KeyError: for an unknown name.
    """
    if name not in _BUILDERS:
        raise KeyError(f"unknown architecture {name!r}; expected one of {', '.join(names())}")
    return _BUILDERS[name](input_shape=tuple(input_shape), num_classes=num_classes, normalization=normalization)
