"""The names edge's commands and kdkeras's flags accept, apart from the code that uses them (no TensorFlow)."""

QUANTIZATIONS = ("float32", "dynamic", "float16", "int8", "int16x8", "qat")
RUNTIMES = ("litert", "tflm")
