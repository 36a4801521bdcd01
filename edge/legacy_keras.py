"""Rebuilds a Keras 3 functional model in tf_keras, the only Keras tfmot accepts.

tensorflow-model-optimization (QAT, pruning) rejects Keras 3 models, so the
student is rebuilt layer by layer from its config in tf_keras, its weights
are copied over and both models must give the same logits before any
fine-tuning starts.
"""

import numpy as np


class UnsupportedLayerError(ValueError):
    """The model holds a layer the tf_keras rebuild does not know."""


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _activation(config, layer_name):
    activation = config.get("activation", "linear")
    if not isinstance(activation, str):
        raise UnsupportedLayerError(
            f"layer {layer_name!r} has a custom activation, which the tf_keras rebuild cannot copy"
        )
    return activation


def _input_layer(tf_keras, config, layer):
    return tf_keras.Input(shape=tuple(config["batch_shape"][1:]), name=config["name"])


def _rescaling(tf_keras, config, layer):
    return tf_keras.layers.Rescaling(scale=config["scale"], offset=config["offset"], name=config["name"])


def _normalization(tf_keras, config, layer):
    axis = config["axis"]
    if list(axis) not in ([-1], [len(layer.input.shape) - 1]) or config.get("invert"):
        raise UnsupportedLayerError(
            f"layer {config['name']!r}: only a per-channel Normalization (axis=-1) can be rebuilt"
        )
    mean = np.asarray(layer.mean, dtype="float32").reshape(-1)
    variance = np.asarray(layer.variance, dtype="float32").reshape(-1)
    return tf_keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name=config["name"])


def _conv2d(tf_keras, config, layer):
    return tf_keras.layers.Conv2D(
        filters=config["filters"],
        kernel_size=_pair(config["kernel_size"]),
        strides=_pair(config["strides"]),
        padding=config["padding"],
        data_format=config["data_format"],
        dilation_rate=_pair(config["dilation_rate"]),
        groups=config.get("groups", 1),
        activation=_activation(config, config["name"]),
        use_bias=config["use_bias"],
        name=config["name"],
    )


def _batch_normalization(tf_keras, config, layer):
    return tf_keras.layers.BatchNormalization(
        axis=config["axis"],
        momentum=config["momentum"],
        epsilon=config["epsilon"],
        center=config["center"],
        scale=config["scale"],
        name=config["name"],
    )


def _relu(tf_keras, config, layer):
    return tf_keras.layers.ReLU(
        max_value=config.get("max_value"),
        negative_slope=config.get("negative_slope", 0.0),
        threshold=config.get("threshold", 0.0),
        name=config["name"],
    )


def _add(tf_keras, config, layer):
    return tf_keras.layers.Add(name=config["name"])


def _max_pooling2d(tf_keras, config, layer):
    return tf_keras.layers.MaxPooling2D(
        pool_size=_pair(config["pool_size"]),
        strides=_pair(config["strides"]),
        padding=config["padding"],
        data_format=config["data_format"],
        name=config["name"],
    )


def _global_average_pooling2d(tf_keras, config, layer):
    return tf_keras.layers.GlobalAveragePooling2D(
        data_format=config["data_format"], keepdims=config.get("keepdims", False), name=config["name"]
    )


def _dense(tf_keras, config, layer):
    return tf_keras.layers.Dense(
        units=config["units"],
        activation=_activation(config, config["name"]),
        use_bias=config["use_bias"],
        name=config["name"],
    )


_BUILDERS = {
    "InputLayer": _input_layer,
    "Rescaling": _rescaling,
    "Normalization": _normalization,
    "Conv2D": _conv2d,
    "BatchNormalization": _batch_normalization,
    "FusedBatchNormalization": _batch_normalization,  # kdkeras's: a Keras BatchNormalization at inference
    "ReLU": _relu,
    "Add": _add,
    "MaxPooling2D": _max_pooling2d,
    "GlobalAveragePooling2D": _global_average_pooling2d,
    "Dense": _dense,
}
_WITH_WEIGHTS = ("Conv2D", "BatchNormalization", "FusedBatchNormalization", "Dense")
SUPPORTED_LAYERS = tuple(_BUILDERS)


def _inbound_names(args):
    """Names of the layers whose outputs a node's `args` refer to, in order."""
    if isinstance(args, dict):
        if args.get("class_name") == "__keras_tensor__":
            name, node_index, tensor_index = args["config"]["keras_history"]
            if node_index or tensor_index:
                raise UnsupportedLayerError(f"layer {name!r} is shared or has several outputs")
            return [name]
        return [n for value in args.values() for n in _inbound_names(value)]
    if isinstance(args, (list, tuple)):
        return [n for value in args for n in _inbound_names(value)]
    return []


def _check_convertible(model):
    """Raises `UnsupportedLayerError` naming the first layer the rebuild cannot handle."""
    if not hasattr(model, "get_config") or type(model).__name__ != "Functional":
        raise UnsupportedLayerError(f"model {model.name!r} is not a functional Keras model")
    for spec in model.get_config()["layers"]:
        if spec["class_name"] not in _BUILDERS:
            raise UnsupportedLayerError(
                f"layer {spec['name']!r} is a {spec['class_name']}; the tf_keras rebuild supports "
                + ", ".join(SUPPORTED_LAYERS)
            )
        if len(spec["inbound_nodes"]) > 1:
            raise UnsupportedLayerError(f"layer {spec['name']!r} is used more than once")


def to_tf_keras(model, check_inputs=None, tolerance=1e-4):
    """Returns the tf_keras twin of the Keras 3 functional `model`, same weights.

    Args:
        model: a functional Keras 3 model made of `SUPPORTED_LAYERS`.
        check_inputs: a batch of inputs on which both models must agree;
            random 0-255 pixels when `None`.
        tolerance: largest allowed logit difference, relative to the
            largest logit magnitude (at least 1).

    Raises:
        UnsupportedLayerError: a layer type or topology the rebuild lacks.
        AssertionError: the twin's outputs differ from the model's.
    """
    import tf_keras

    _check_convertible(model)
    config = model.get_config()
    tensors = {}
    twins = {}
    for spec in config["layers"]:
        layer = model.get_layer(spec["name"])
        twin = _BUILDERS[spec["class_name"]](tf_keras, spec["config"], layer)
        if spec["class_name"] == "InputLayer":
            tensors[spec["name"]] = twin
            continue
        inbound = _inbound_names([node["args"] for node in spec["inbound_nodes"]])
        inputs = [tensors[name] for name in inbound]
        tensors[spec["name"]] = twin(inputs if len(inputs) > 1 else inputs[0])
        twins[spec["name"]] = twin
    model_inputs = [tensors[name] for name, _, _ in _as_list(config["input_layers"])]
    model_outputs = [tensors[name] for name, _, _ in _as_list(config["output_layers"])]
    rebuilt = tf_keras.Model(
        model_inputs if len(model_inputs) > 1 else model_inputs[0],
        model_outputs if len(model_outputs) > 1 else model_outputs[0],
        name=model.name,
    )
    for spec in config["layers"]:
        if spec["class_name"] in _WITH_WEIGHTS:
            twins[spec["name"]].set_weights(model.get_layer(spec["name"]).get_weights())

    if check_inputs is None:
        shape = (4,) + tuple(model.input_shape[1:])
        check_inputs = np.random.default_rng(0).uniform(0, 255, size=shape).astype("float32")
    expected = np.asarray(model(check_inputs, training=False))
    actual = np.asarray(rebuilt(check_inputs, training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    difference = float(np.abs(expected - actual).max())
    assert difference <= tolerance * scale, f"tf_keras rebuild differs from the Keras model by {difference:g}"
    return rebuilt


def _as_list(layer_refs):
    """`input_layers` is one `[name, 0, 0]` or a list of them."""
    return [layer_refs] if layer_refs and isinstance(layer_refs[0], str) else list(layer_refs)
