import math
import os

import keras
import numpy as np
import pytest

from kdkeras import models
from kdkeras.models.mlperf_tiny import mlperf_resnet8

REFERENCE = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "anchors", "mlperf_tiny", "pretrainedResnet.tflite"
)
needs_reference = pytest.mark.skipif(not os.path.isfile(REFERENCE), reason="MLPerf Tiny's reference file is not here")

# The reference file's convolutions in the order of its operators (main branch before projection), then its dense.
REFERENCE_ORDER = [
    "stem",
    "stage1_block1_1",
    "stage1_block1_2",
    "stage2_block1_1",
    "stage2_block1_2",
    "stage2_block1_proj",
    "stage3_block1_1",
    "stage3_block1_2",
    "stage3_block1_proj",
]
KERAS_TO_TFLITE = {
    "Conv2D": "CONV_2D",
    "Add": "ADD",
    "Dense": "FULLY_CONNECTED",
}


def eembc_resnet8_params(channels, classes):
    """The reference's Keras network counted by hand: convolutions with bias, a batch norm (4 weights per
    channel) after every 3x3 one, 1x1 projections with bias and no batch norm, one dense layer."""

    def conv(k, cin, cout):
        return k * k * cin * cout + cout

    total = conv(3, channels, 16) + 4 * 16
    for cin, cout in [(16, 16), (16, 32), (32, 64)]:
        total += conv(3, cin, cout) + conv(3, cout, cout) + 2 * 4 * cout
        if cin != cout:
            total += conv(1, cin, cout)
    return total + 64 * classes + classes


def batch_norm_weights(model):
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return sum(math.prod(w.shape) for layer in norms for w in layer.weights)


def reference_file():
    """The reference's interpreter and its operators (inputs and outputs as tensor indices), delegate left out."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=REFERENCE, num_threads=1)
    interpreter.allocate_tensors()
    operators = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    return interpreter, operators


def test_parameters_are_the_reference_summary_s():
    model = models.get("mlperf_resnet8", (32, 32, 3), 10)
    assert model.name == "mlperf_resnet8"
    assert models.count_params(model) == eembc_resnet8_params(3, 10) == 78_666


def test_folded_for_inference_it_has_resnet8_s_weights():
    # Each batch norm folds into its convolution's kernel and bias: what is left is kernels, one bias per
    # convolution channel and the dense layer, the same count for both networks (they differ in training).
    ours = models.get("mlperf_resnet8", (32, 32, 3), 10)
    theirs = models.get("resnet8", (32, 32, 3), 10)
    conv_channels_without_bias = sum(
        layer.filters for layer in theirs.layers if isinstance(layer, keras.layers.Conv2D) and not layer.use_bias
    )
    folded_ours = models.count_params(ours) - batch_norm_weights(ours)
    folded_theirs = models.count_params(theirs) - batch_norm_weights(theirs) + conv_channels_without_bias
    assert folded_ours == folded_theirs == 77_706


@pytest.mark.parametrize("input_shape", [(32, 32, 3), (28, 28, 1)])
def test_pooling_averages_the_last_map(input_shape):
    model = mlperf_resnet8(input_shape, 5)
    last_map = model.get_layer("stage3_block1_out").output
    pool = keras.Model(model.input, [last_map, model.get_layer("pool").output])
    pixels = np.random.default_rng(0).uniform(0, 255, (2,) + input_shape).astype("float32")
    features, pooled = (np.asarray(t) for t in pool(pixels))
    np.testing.assert_allclose(pooled, features.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert model(pixels).shape == (2, 5)


@needs_reference
def test_weights_are_the_reference_file_s():
    interpreter, operators = reference_file()
    weighted = [op for op in operators if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]
    file_weights = sum(interpreter.get_tensor(int(i)).size for op in weighted for i in op["inputs"][1:])
    model = mlperf_resnet8((32, 32, 3), 10)
    assert models.count_params(model) - batch_norm_weights(model) == file_weights == 77_706
    shapes = [tuple(interpreter.get_tensor(int(op["inputs"][1])).shape) for op in weighted]
    kernels = [model.get_layer(f"{name}_conv").kernel.shape for name in REFERENCE_ORDER]
    kernels.append(model.get_layer("logits").kernel.shape)
    # LiteRT keeps kernels as (out, height, width, in) and dense weights as (out, in).
    assert shapes == [(k[-1],) + tuple(k[:-1]) for k in kernels[:-1]] + [tuple(reversed(kernels[-1]))]


@needs_reference
def test_layers_give_the_reference_file_s_shapes():
    interpreter, operators = reference_file()
    tensors = {d["index"]: tuple(d["shape"][1:]) for d in interpreter.get_tensor_details()}
    file_ops = sorted((op["op_name"], tensors[int(op["outputs"][0])]) for op in operators)
    model = mlperf_resnet8((32, 32, 3), 10)
    keras_ops = [
        (KERAS_TO_TFLITE[type(layer).__name__], tuple(layer.output.shape[1:]))
        for layer in model.layers
        if type(layer).__name__ in KERAS_TO_TFLITE
    ]
    # The file pools 8x8 to 1x1 and flattens where the model averages globally, and it ends in a softmax
    # where the model gives logits (the softmax is the loss's).
    pooled = tuple(model.get_layer("pool").output.shape[1:])
    reference_head = [("AVERAGE_POOL_2D", (1, 1) + pooled), ("RESHAPE", pooled), ("SOFTMAX", (10,))]
    assert sorted(keras_ops + reference_head) == file_ops


@needs_reference
def test_the_reference_s_weights_give_the_reference_s_outputs():
    # The defining property: with the file's folded weights (batch norms set to the identity, the first
    # kernel scaled by 255 to undo the 0-1 rescaling), the model computes what the file computes.
    interpreter, operators = reference_file()
    weighted = [op for op in operators if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]
    model = mlperf_resnet8((32, 32, 3), 10)
    for name, op in zip(REFERENCE_ORDER, weighted[:-1]):
        kernel, bias = (interpreter.get_tensor(int(i)) for i in op["inputs"][1:])
        kernel = np.transpose(kernel, (1, 2, 3, 0)) * (255.0 if name == "stem" else 1.0)
        model.get_layer(f"{name}_conv").set_weights([kernel, bias])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            identity_variance = np.full(channels, 1.0 - layer.epsilon, "float32")
            layer.set_weights([np.ones(channels), np.zeros(channels), np.zeros(channels), identity_variance])
    dense, bias = (interpreter.get_tensor(int(i)) for i in weighted[-1]["inputs"][1:])
    model.get_layer("logits").set_weights([dense.T, bias])

    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, pixels.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, pixels)
    interpreter.invoke()
    expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    logits = np.asarray(model(pixels, training=False))
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
