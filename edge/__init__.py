"""edge: trained students to LiteRT (`.tflite`) files, and their on-device figures.

`export_tflite(model, quantization, output_path, train_data=...)` writes a
file in one of `QUANTIZATIONS`; `benchmark_tflite(path, test_data)` runs it
with the LiteRT interpreter for accuracy, size, latency and memory, and
with `runtime="tflm"` in TensorFlow Lite Micro for arena and flash too;
`write_c_array(path)` writes the C files a microcontroller's firmware needs.
"""

from edge.benchmark import RUNTIMES, benchmark_tflite
from edge.budget import mcu_budget
from edge.c_array import write_c_array
from edge.export import QUANTIZATIONS, export_tflite
from edge.tflm import tflm_footprint

__all__ = [
    "QUANTIZATIONS",
    "RUNTIMES",
    "benchmark_tflite",
    "export_tflite",
    "mcu_budget",
    "tflm_footprint",
    "write_c_array",
]
