"""A network's inner feature map and its output, from one forward pass, by layer name.

Feature distillation (FitNets) compares a teacher layer's output with a
student layer's. `feature_extractor` builds the model that returns both
that layer's output and the network's logits, from the network's own layers
(shared, not copied: training it trains the network), also when the layer
sits inside a nested model, as the backbone of a Keras Applications
classifier built by `kdkeras.models.application` or of a keras-hub task.
"""

import re

import keras

from kdkeras.models.adapt import PROBABILITY_FLOOR, gives_probabilities, resize_to

_RESNET_SECOND_STAGE_OUTPUT = re.compile(r"stage2_block(\d+)_out")


def find_layer(model, name):
    """The layers from `model` down to the layer called `name`: `[layer]`, or `[nested_model, ..., layer]`.

    A layer of `model` itself is found before one of a nested model;
    `None` when no layer has that name.
    """
    for layer in model.layers:
        if layer.name == name:
            return [layer]
    for layer in model.layers:
        if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
            path = find_layer(layer, name)
            if path:
                return [layer] + path
    return None


def default_hint_layer(model):
    """The end of the second stage of a kdkeras ResNet (`stage2_block{n}_out`), else `None`.

    Romero et al. guide a middle layer; RepDistiller's and mdistiller's
    CIFAR FitNets take the output of the second of the three stages.
    """
    blocks = {}
    for layer in model.layers:
        match = _RESNET_SECOND_STAGE_OUTPUT.fullmatch(layer.name)
        if match:
            blocks[int(match.group(1))] = layer.name
    return blocks[max(blocks)] if blocks else None


def _layer_output(layer, model):
    try:
        return layer.output
    except (AttributeError, ValueError) as error:  # never called, or called more than once
        raise ValueError(
            f"the layer {layer.name!r} of {model.name!r} has no single output to guide ({error}); "
            "name a layer that the model calls once"
        ) from None


def _extractor(model, path):
    if len(path) == 1:
        return keras.Model(model.input, [_layer_output(path[0], model), model.outputs[0]])
    nested, inner = path[0], _extractor(path[0], path[1:])
    features = []

    def call_nested_through_inner(layer, *args, **kwargs):
        if layer is not nested:
            return layer(*args, **kwargs)
        feature, output = inner(*args, **kwargs)
        features.append(feature)
        return output

    # Identity clone: the same layers, with `nested` run as `inner`.
    rebuilt = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_nested_through_inner
    )
    if len(features) != 1:
        raise ValueError(f"the model {nested.name!r} inside {model.name!r} is called {len(features)} times, not once")
    return keras.Model(rebuilt.input, [features[0], rebuilt.outputs[0]])


def feature_extractor(model, layer_name, argument="layer"):
    """A `keras.Model` mapping `model`'s inputs to `[output of layer_name, model's output]`.

    It shares `model`'s layers and weights. `argument` names the argument
    that gave `layer_name`, for the error when `model` has no such layer.

    Raises:
        ValueError: `model` has no layer `layer_name` (also searched inside
            nested models), or the layer is called more than once.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(f"{argument}: {getattr(model, 'name', model)!r} is not a functional Keras model")
    path = find_layer(model, layer_name)
    if path is None:
        raise ValueError(
            f"{argument}: the model {model.name!r} has no layer {layer_name!r} "
            "(see `model.summary()`; a layer of a nested backbone is named as is)"
        )
    extractor = _extractor(model, path)
    return keras.Model(extractor.input, extractor.outputs, name=f"{model.name}_{layer_name}_features")


def model_input(model, images):
    """`images` as `model` takes them: a keras-hub task's own preprocessor, else `resize_to`."""
    preprocessor = getattr(model, "preprocessor", None)
    return preprocessor(images) if preprocessor is not None else resize_to(model, images)


def features_and_logits(extractor, model, images, training=False):
    """`(features, logits)` of `model` for `images`, float32, through its `feature_extractor`.

    A softmax output is returned as log-probabilities, as `kdkeras.models.logits` does.
    """
    features, outputs = extractor(model_input(model, images), training=training)
    features, outputs = keras.ops.cast(features, "float32"), keras.ops.cast(outputs, "float32")
    if gives_probabilities(model):
        outputs = keras.ops.log(keras.ops.clip(outputs, PROBABILITY_FLOOR, 1.0))
    return features, outputs
