"""A `.tflite` file in TensorFlow Lite Micro (TFLM): accuracy, arena (RAM) and flash.

TFLM is the runtime of microcontrollers: no operating system, no heap, one
static arena for every tensor. Running the file in its Python build (the
`tflite-micro` package) says on the host what a board's firmware will meet:
whether TFLM has a kernel for every operator, how many arena bytes its
allocator takes, and whether its reference kernels give the predictions
LiteRT gives. TFLM's figures come only from its own C++ log, so they are
read from there.
"""

import os
import re
import time

import numpy as np

from edge import native_output
from edge.operators import operators
from edge.tensor_io import from_output, to_input
from kdkeras import errors

_MISSING_OPERATOR = re.compile(r"Didn't find op for (?:builtin|custom) opcode '([^']+)'")
_ARENA_TOO_SMALL = ("Failed to resize buffer", "Failed to allocate", "Too many buffers", "too small")
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_LARGEST_ARENA_BYTES = 1 << 30
# TFLM (0.dev20261023) crashes with a segmentation fault, instead of failing, on arenas under about
# 512 bytes (too small for its own bookkeeping), so smaller ones are never handed to it.
_SMALLEST_ARENA_BYTES = 1024


class _CannotRun(errors.UsageError):
    """TFLM failed in words not known to mean a small arena (it may still be one)."""


def _first_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _try_open(model_bytes, arena_bytes, path):
    """The interpreter over an arena of `arena_bytes`, or `None` when that arena is too small."""
    from tflite_micro.python.tflite_micro import runtime

    with native_output.captured(1, 2) as log:
        try:
            return runtime.Interpreter.from_bytes(model_bytes, arena_size=int(arena_bytes))
        except (RuntimeError, ValueError) as error:
            failure, text = error, log()
    missing = _MISSING_OPERATOR.search(text)
    if missing:
        raise errors.UsageError(f"--model={path}: TFLite Micro has no kernel for operator {missing.group(1)}")
    if any(marker in text for marker in _ARENA_TOO_SMALL):
        return None
    reason = _first_line(text) or str(failure) or type(failure).__name__
    raise _CannotRun(f"--model={path}: TFLite Micro cannot run it ({reason})")


def _arena_used(interpreter):
    """Arena bytes TFLM's recording allocator handed out (head plus tail)."""
    with native_output.captured(1, 2) as log:
        interpreter.print_allocations()
        text = log()
    total = _ARENA_TOTAL.search(text)
    if total is None:
        raise RuntimeError(f"TFLite Micro printed no arena total; it printed: {_first_line(text)!r}")
    return int(total.group(1))


def _open_growing(model_bytes, path, start):
    """Opens with `start` arena bytes, doubling until TFLM's allocator succeeds; returns `(interpreter, tried)`."""
    tried = start
    while True:
        interpreter = _try_open(model_bytes, tried, path)
        if interpreter is not None:
            return interpreter, tried
        if tried >= _LARGEST_ARENA_BYTES:
            raise errors.UsageError(f"--model={path}: TFLite Micro could not allocate it in {tried} bytes of arena")
        tried = min(2 * tried, _LARGEST_ARENA_BYTES)


def _open(path, arena_bytes):
    """`(interpreter, model_bytes, arena_tried)`.

    A given `arena_bytes` that is too small is an error naming the need.
    """
    errors.check(os.path.isfile(path), f"--model={path}: no such file")
    errors.check(
        arena_bytes is None or arena_bytes >= 1, f"--arena_bytes={arena_bytes}: expected a positive number of bytes"
    )
    with open(path, "rb") as f:
        model_bytes = f.read()
    operators(model_bytes, origin=f"--model={path}")
    # TFLM's Python wrapper guesses ten times the model; growing from there finds any model's need.
    generous = max(64 * 1024, 10 * len(model_bytes))
    if arena_bytes is None:
        interpreter, tried = _open_growing(model_bytes, path, generous)
        return interpreter, model_bytes, tried
    try:
        interpreter = _try_open(model_bytes, arena_bytes, path) if arena_bytes >= _SMALLEST_ARENA_BYTES else None
    except _CannotRun:
        # TFLM words some arena shortfalls like other failures: if a larger arena fails too, its error stands.
        interpreter = None
    if interpreter is None:
        larger, _ = _open_growing(model_bytes, path, max(generous, 2 * arena_bytes))
        needed = _arena_used(larger)
        raise errors.UsageError(
            f"--arena_bytes={arena_bytes}: too small; TFLite Micro needs {needed} bytes of arena for {path}"
        )
    return interpreter, model_bytes, int(arena_bytes)


def tflm_footprint(path, arena_bytes=None):
    """What a `.tflite` file needs on a microcontroller, without running it.

    Args:
        path: the `.tflite` file.
        arena_bytes: the arena to try; `None` grows one until the model fits.

    Returns:
        A dict: `arena_bytes` (the bytes TFLM's allocator took: the model's
        RAM for tensors and kernel state), `arena_tried_bytes`,
        `flash_bytes` (the model's bytes, which stay in flash) and
        `operators` (builtin names, in the file's order).

    Raises:
        kdkeras.errors.UsageError: no such file, not a TFLite model, an
            operator TFLM lacks, or an `arena_bytes` below the need.
    """
    interpreter, model_bytes, tried = _open(path, arena_bytes)
    return {
        "arena_bytes": _arena_used(interpreter),
        "arena_tried_bytes": tried,
        "flash_bytes": len(model_bytes),
        "operators": operators(model_bytes),
    }


def _detail(raw):
    """TFLM's tensor details in the shape `edge.benchmark`'s converters take."""
    quantization = raw.get("quantization_parameters") or {}
    scales, zero_points = quantization.get("scales", []), quantization.get("zero_points", [])
    scale = float(scales[0]) if len(scales) else 0.0
    zero_point = int(zero_points[0]) if len(zero_points) else 0
    return {
        "dtype": np.dtype(raw["dtype"]),
        "shape": tuple(int(d) for d in raw["shape"]),
        "quantization": (scale, zero_point),
    }


def benchmark_tflm(path, test_data, arena_bytes=None):
    """Runs a `.tflite` file image by image in TFLite Micro over a test split.

    TFLM runs batch 1 only, so each image is one `invoke`; the latency is
    timed on those invocations of TFLM's reference kernels on this CPU.

    Args:
        path: the `.tflite` file (raw 0-255 pixels in, logits out).
        test_data: batched `(pixels, label)` test pipeline.
        arena_bytes: the arena to try; `None` grows one until the model fits.

    Returns:
        The `tflm_footprint` dict plus `accuracy`, `latency_ms` (`median`,
        `p90`), `num_test` and `predictions` (top-1 class per image, in order).

    Raises:
        kdkeras.errors.UsageError: as `tflm_footprint`, or images the file does not take.
    """

    interpreter, model_bytes, tried = _open(path, arena_bytes)
    input_detail = _detail(interpreter.get_input_details(0))
    output_detail = _detail(interpreter.get_output_details(0))
    expected = input_detail["shape"][1:]
    actual = tuple(test_data.element_spec[0].shape[1:])
    errors.check(
        actual == expected,
        f"--dataset: its images are {'x'.join(map(str, actual))} but --model={path} takes "
        f"{'x'.join(map(str, expected))}",
    )
    predictions, labels, times = [], [], []
    for pixels, batch_labels in test_data:
        for image in to_input(pixels.numpy(), input_detail):
            start = time.perf_counter()
            interpreter.set_input(image[None], 0)
            interpreter.invoke()
            times.append((time.perf_counter() - start) * 1000.0)
            predictions.append(int(np.argmax(from_output(interpreter.get_output(0), output_detail))))
        labels.extend(int(label) for label in batch_labels.numpy())
    predictions = np.asarray(predictions)
    return {
        "accuracy": float(np.mean(predictions == np.asarray(labels))) if labels else 0.0,
        "latency_ms": {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))} if times else None,
        "num_test": len(labels),
        "arena_bytes": _arena_used(interpreter),
        "arena_tried_bytes": tried,
        "flash_bytes": len(model_bytes),
        "operators": operators(model_bytes),
        "predictions": predictions,
    }
