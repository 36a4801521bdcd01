"""Models by name: `get("resnet8", input_shape, num_classes)`.

A name may carry options after a colon, separated by commas or colons:
`mobilenet_v3_small:alpha=0.5,input=96` (the colon form,
`mobilenet_v3_small:alpha=0.5:input=96`, also fits in a comma-separated
list such as `--stages`).
"""

import functools
import re

from kdkeras.models.applications import FAMILIES, application
from kdkeras.models.mlperf_tiny import mlperf_resnet8
from kdkeras.models.plain_cnn import PLAIN_CNN_DEPTHS, plain_cnn
from kdkeras.models.resnet import RESNET_DEPTHS, resnet

_BUILDERS = {}
_OPTIONS = {}  # name -> the options it takes
for _depth in RESNET_DEPTHS:
    _BUILDERS[f"resnet{_depth}"] = functools.partial(resnet, _depth)
_BUILDERS["mlperf_resnet8"] = mlperf_resnet8
for _depth in PLAIN_CNN_DEPTHS:
    _BUILDERS[f"plain{_depth}"] = functools.partial(plain_cnn, _depth)
for _family, (_, _own_options, _) in FAMILIES.items():
    _BUILDERS[_family] = functools.partial(application, _family)
    _OPTIONS[_family] = _own_options + ("input", "weights")


def _sort_key(name):
    number = re.findall(r"\d+", name)
    return re.sub(r"\d+", "", name), int(number[0]) if number else 0, name


def names():
    """Returns the registered architecture names, smallest family member first."""
    return sorted(_BUILDERS, key=_sort_key)


def register(name, builder, options=()):
    """Adds `builder(input_shape, num_classes, normalization=None, **options)` as `name`."""
    _BUILDERS[name] = builder
    _OPTIONS[name] = tuple(options)


def _size(text):
    height, _, width = text.lower().partition("x")
    size = (int(height), int(width or height))
    if min(size) < 1:
        raise ValueError
    return size


def _flag(text):
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower())
    if value is None:
        raise ValueError
    return value


def _weights(text):
    return None if text.lower() in ("none", "") else text


_PARSERS = {
    "alpha": (float, "a width multiplier such as 0.5"),
    "input": (_size, "a size such as 96 or 96x128"),
    "minimalistic": (_flag, "true or false"),
    "weights": (_weights, "none, imagenet or a weights file"),
}


def parse(spec):
    """Returns `(name, options)` of `spec`, e.g. `("mobilenet_v3_small", {"alpha": 0.5})`.

    Raises:
        KeyError: for an unknown name.
        ValueError: for an option the architecture does not take or a bad value.
    """
    name, _, rest = spec.partition(":")
    if name not in _BUILDERS:
        raise KeyError(f"unknown architecture {name!r}; expected one of {', '.join(names())}")
    options = {}
    for item in filter(None, re.split(r"[,:]", rest)):
        key, equals, text = item.partition("=")
        allowed = _OPTIONS.get(name, ())
        if not equals or key not in allowed:
            takes = f"takes options {', '.join(allowed)}" if allowed else "takes no options"
            raise ValueError(f"{name!r} {takes}, got {item!r} (write {name}:key=value,key=value)")
        parser, expected = _PARSERS[key]
        try:
            options[key] = parser(text)
        except ValueError:
            raise ValueError(f"{name}: {key}={text!r} is not {expected}") from None
    return name, options


def get(spec, input_shape, num_classes, normalization=None):
    """Builds the architecture `spec` for pixels of `input_shape`.

    Args:
        spec: a registered name, see `names()`, with its options if any,
            e.g. `"mobilenet_v3_small:alpha=0.75,input=96"`.
        input_shape: `(height, width, channels)` of raw 0-255 pixels: the
            model's input layer.
        num_classes: number of output logits.
        normalization: `(mean, std)` per channel on the 0-1 scale, or `None`
            (Keras Applications use their family's own preprocessing).

    Example:

    ```python
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    phone = kdkeras.models.get("mobilenet_v3_small:alpha=0.75,input=96", (32, 32, 3), 10)
    ```

    Raises:
        KeyError: for an unknown name.
        ValueError: for a bad option.
    """
    name, options = parse(spec)
    if options:
        suffix = "_".join(f"{k}{'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in options.items())
        options["name"] = f"{name}_{suffix}"
    return _BUILDERS[name](
        input_shape=tuple(input_shape), num_classes=num_classes, normalization=normalization, **options
    )
