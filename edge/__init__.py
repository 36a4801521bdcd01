"""edge: trained students to LiteRT (`.tflite`) files, and their on-device figures.

`export_tflite(model, quantization, output_path, train_data=...)` writes a
file in one of `QUANTIZATIONS`; `benchmark_tflite(path, test_data)` runs it
with the LiteRT interpreter for accuracy, size, latency and memory.
"""

from edge.benchmark import benchmark_tflite
from edge.export import QUANTIZATIONS, export_tflite
