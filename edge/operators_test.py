"""Operator names from the flatbuffer, and the MicroMutableOpResolver methods that register them."""

import pytest

from edge.operators import operators, resolver_method
from kdkeras.errors import UsageError


@pytest.mark.parametrize(
    "name, method",
    [  # as spelled in tflite-micro's micro_mutable_op_resolver.h
        ("CONV_2D", "AddConv2D"),
        ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
        ("MAX_POOL_2D", "AddMaxPool2D"),
        ("AVERAGE_POOL_2D", "AddAveragePool2D"),
        ("L2_POOL_2D", "AddL2Pool2D"),
        ("FULLY_CONNECTED", "AddFullyConnected"),
        ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
        ("RELU6", "AddRelu6"),
        ("SELECT_V2", "AddSelectV2"),
        ("ADD_N", "AddAddN"),
        ("PADV2", "AddPadV2"),
        ("CUMSUM", "AddCumSum"),
        ("BATCH_MATMUL", "AddBatchMatMul"),
        ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    ],
)
def test_resolver_method_names(name, method):
    assert resolver_method(name) == method


def test_a_custom_operator_has_no_builtin_method():
    with pytest.raises(UsageError, match="CUSTOM:MyOp"):
        resolver_method("CUSTOM:MyOp")


def test_bytes_that_are_not_a_model_are_refused(exported):
    with pytest.raises(UsageError, match="not a TFLite model"):
        operators(b"not a flatbuffer at all", origin="x.tflite")
    with open(exported("int8")["path"], "rb") as f:
        truncated = f.read()[:2000]
    with pytest.raises(UsageError, match="truncated or corrupt"):
        operators(truncated)
