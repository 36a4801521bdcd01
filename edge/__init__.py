"""edge: trained students to LiteRT (`.tflite`) files, and their on-device figures.

`export_tflite(model, quantization, output_path, train_data=...)` writes a
file in one of `QUANTIZATIONS`; `benchmark_tflite(path, test_data)` runs it
with the LiteRT interpreter for accuracy, size, latency and memory, and
with `runtime="tflm"` in TensorFlow Lite Micro for arena and flash too;
`write_c_array(path)` writes the C files a microcontroller's firmware needs;
`paired_comparison(correct_a, correct_b)` compares two models image by
image on the same test images (McNemar, a paired bootstrap).
"""

import importlib

# Imported on first use, so that `python -m edge.export` (or `edge.benchmark`) runs its module once, as `__main__`,
# rather than after the package has already imported it.
_HOMES = {
    "QUANTIZATIONS": "edge.export",
    "RUNTIMES": "edge.benchmark",
    "benchmark_tflite": "edge.benchmark",
    "correct_per_image": "edge.paired",
    "export_tflite": "edge.export",
    "mcu_budget": "edge.budget",
    "paired_comparison": "edge.paired",
    "tflm_footprint": "edge.tflm",
    "top1_predictions": "edge.benchmark",
    "write_c_array": "edge.c_array",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'edge' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
