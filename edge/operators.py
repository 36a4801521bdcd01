"""The operators a `.tflite` file uses, and how TFLite Micro registers each.

Firmware registers operators one by one with `tflite::MicroMutableOpResolver`;
registering exactly those a model uses keeps unused kernels out of flash.
The names are read from the file's flatbuffer with the schema that ships
with the `tflite-micro` package, so they match the TFLM runtime installed.
"""

import struct

from kdkeras import errors

# Where a method name of MicroMutableOpResolver (micro_mutable_op_resolver.h)
# does not follow from the builtin name by title-casing its parts.
_METHOD_EXCEPTIONS = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def operators(model_bytes, origin="the model"):
    """Distinct operator names of a `.tflite` flatbuffer, in the file's order of first use.

    Builtin operators come by their schema name (`CONV_2D`); custom ones as
    `CUSTOM:<name>`. `origin` names the file in errors.

    Raises:
        kdkeras.errors.UsageError: the bytes are not a TFLite flatbuffer.
    """
    schema = _schema()
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    errors.check(
        len(model_bytes) >= 8 and schema.Model.ModelBufferHasIdentifier(model_bytes, 0),
        f"{origin}: not a TFLite model (no TFL3 flatbuffer identifier)",
    )
    try:
        model = schema.Model.GetRootAsModel(model_bytes, 0)
        codes = []
        for index in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(index)
            # Files before schema v3a keep codes under 127 only in the deprecated field.
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(builtin, f"BUILTIN_{builtin}")
            if builtin == schema.BuiltinOperator.CUSTOM:
                name = "CUSTOM:" + (code.CustomCode() or b"").decode("utf-8", "replace")
            codes.append(name)
        used = []
        for graph_index in range(model.SubgraphsLength()):
            graph = model.Subgraphs(graph_index)
            for op_index in range(graph.OperatorsLength()):
                name = codes[graph.Operators(op_index).OpcodeIndex()]
                if name not in used:
                    used.append(name)
    except (IndexError, ValueError, TypeError, struct.error) as error:
        raise errors.UsageError(f"{origin}: a truncated or corrupt TFLite model ({type(error).__name__})") from None
    return used


def resolver_method(name):
    """The `MicroMutableOpResolver` method that registers builtin operator `name` (`CONV_2D` -> `AddConv2D`).

    Raises:
        kdkeras.errors.UsageError: a custom operator, which firmware must
            register itself with `AddCustom` and its own kernel.
    """
    errors.check(
        not name.startswith("CUSTOM:"),
        f"operator {name}: a custom operator has no builtin TFLM kernel; firmware must AddCustom() its own",
    )
    if name in _METHOD_EXCEPTIONS:
        return _METHOD_EXCEPTIONS[name]
    parts = (part if part[0].isdigit() else part.capitalize() for part in name.split("_"))
    return "Add" + "".join(parts)
