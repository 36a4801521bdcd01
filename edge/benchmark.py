"""`python -m edge.benchmark`: accuracy, size, latency and memory of a `.tflite` file.

Runs the file with the LiteRT interpreter (ai-edge-litert, the runtime
that replaced `tf.lite.Interpreter`), which is what a phone or a Linux
board runs, so the figures speak for the exported file, not for Keras.
`--runtime=tflm` runs it in TensorFlow Lite Micro as well (`edge.tflm`),
the runtime of microcontrollers, for its accuracy, agreement with LiteRT,
arena and flash, and holds those against `--mcu_ram_bytes` and
`--mcu_flash_bytes`.
"""

import os
import resource
import sys
import time

import numpy as np
from absl import app, flags

from edge.budget import budget_line
from edge.keras_model import load_keras_model
from edge.names import RUNTIMES
from edge.tensor_io import from_output, to_input
from kdkeras import errors
from kdkeras.io import write_json_atomic


def _open(path, num_threads):
    from ai_edge_litert.interpreter import Interpreter

    errors.check(os.path.isfile(path), f"--model={path}: no such file")
    try:
        interpreter = Interpreter(model_path=path, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise errors.UsageError(f"--model={path}: not a TFLite model the interpreter can run ({reason})") from None
    return interpreter


def _quantization(interpreter):
    """The export mode a file came from, read off its tensor types.

    `qat` files are full-integer files like `int8` ones and read as `int8`.
    """
    input_dtype = interpreter.get_input_details()[0]["dtype"]
    dtypes = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    if input_dtype == np.int8:
        return "int8"
    if np.dtype(np.int16) in dtypes:
        return "int16x8"
    if np.dtype(np.float16) in dtypes:
        return "float16"
    if np.dtype(np.int8) in dtypes:
        return "dynamic"
    return "float32"


def _check_shape(interpreter, test_data, path):
    expected = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"][1:])
    actual = tuple(test_data.element_spec[0].shape[1:])
    errors.check(
        actual == expected,
        f"--dataset: its images are {'x'.join(map(str, actual))} but --model={path} takes "
        f"{'x'.join(map(str, expected))}",
    )


def _predictions(interpreter, test_data, batch_size):
    """Top-1 classes and labels over the whole split, invoking on batches of `batch_size`."""
    input_detail = interpreter.get_input_details()[0]
    predicted, expected = [], []
    current = None
    for pixels, labels in test_data.unbatch().batch(batch_size):
        pixels, labels = pixels.numpy(), labels.numpy()
        if current != len(pixels):
            current = len(pixels)
            interpreter.resize_tensor_input(input_detail["index"], (current,) + pixels.shape[1:])
            interpreter.allocate_tensors()
            input_detail = interpreter.get_input_details()[0]
        output_detail = interpreter.get_output_details()[0]
        interpreter.set_tensor(input_detail["index"], to_input(pixels, input_detail))
        interpreter.invoke()
        logits = from_output(interpreter.get_tensor(output_detail["index"]), output_detail)
        predicted.append(np.argmax(logits, axis=-1))
        expected.append(labels)
    return _joined(predicted, expected)


def _joined(predicted, expected):
    if not predicted:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(predicted), np.concatenate(expected)


def _check_classes(interpreter, dataset_info, path):
    classes = int(interpreter.get_output_details()[0]["shape"][-1])
    errors.check(
        classes == dataset_info.num_classes,
        f"--dataset={dataset_info.name}: it has {dataset_info.num_classes} classes but --model={path} gives "
        f"{classes} outputs",
    )


def top1_predictions(path, test_data, runtime="litert", dataset_info=None, batch_size=100, arena_bytes=None):
    """The top-1 class a model file gives every test image, and the image's label, in the split's order.

    The same inference as `benchmark_tflite`'s accuracy (and `--compare_keras`'s), per image.

    Args:
        path: a `.tflite` file (raw 0-255 pixels in), or a `.keras` file, which runs in Keras.
        test_data: batched `(pixels, label)` test pipeline.
        runtime: for a `.tflite` file, `litert` (one thread) or `tflm` (TFLite Micro).
        dataset_info: a `kdkeras.data.DatasetInfo` whose class count (and, for
            `.keras`, image shape) the model must match, or `None`.
        batch_size: LiteRT's batch.
        arena_bytes: `tflm`: the arena to try; `None` grows one until the model fits.

    Returns:
        `(predicted, labels)`: two integer arrays, one entry per test image.

    Raises:
        kdkeras.errors.UsageError: no such file, not a model, images or classes that do not fit.
    """
    if path.endswith(".keras"):
        model = load_keras_model(path, dataset_info)
        return _keras_predictions(_keras_call(model), test_data)
    errors.check(runtime in RUNTIMES, f"--runtime={runtime}: expected one of {', '.join(RUNTIMES)}")
    interpreter = _open(path, 1)
    _check_shape(interpreter, test_data, path)
    if dataset_info is not None:
        _check_classes(interpreter, dataset_info, path)
    if runtime == "litert":
        return _predictions(interpreter, test_data, batch_size)
    from edge.tflm import benchmark_tflm

    predicted = benchmark_tflm(path, test_data, arena_bytes)["predictions"]
    batches = [batch_labels.numpy() for _, batch_labels in test_data]
    return np.asarray(predicted, np.int64), np.concatenate(batches) if batches else np.zeros(0, np.int64)


def _latency(run, image, runs, warmup):
    """Median and p90 milliseconds of `run(image)` after `warmup` calls."""
    for _ in range(warmup):
        run(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(image)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90))}


def _peak_rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def benchmark_tflite(
    path,
    test_data,
    num_threads=1,
    runs=200,
    warmup=20,
    batch_size=100,
    runtime="litert",
    arena_bytes=None,
    mcu_ram_bytes=None,
    mcu_flash_bytes=None,
):
    """Measures a `.tflite` file with the LiteRT interpreter, and with `runtime="tflm"` in TFLite Micro too.

    Args:
        path: the `.tflite` file (raw 0-255 pixels in, logits out).
        test_data: batched `(pixels, label)` test pipeline, e.g.
            `kdkeras.data.load(...).test`; accuracy is over all of it.
        num_threads: interpreter threads, as on the device.
        runs: timed batch-1 invocations for the latency.
        warmup: untimed batch-1 invocations before them.
        batch_size: batch of the accuracy pass (the latency is at batch 1).
        runtime: `litert`, or `tflm` to also run the file in TFLite Micro
            (the microcontroller runtime) over the same split.
        arena_bytes: `tflm`: the arena to try; `None` grows one until the
            model fits.
        mcu_ram_bytes: `tflm`: a microcontroller's RAM to hold the arena against.
        mcu_flash_bytes: `tflm`: its flash, to hold the model's bytes against.

    Example:

    ```python
    splits = kdkeras.data.load("mnist_sample", batch_size=128)
    figures = edge.benchmark_tflite("student_int8.tflite", splits.test, runtime="tflm")
    figures["accuracy"], figures["latency_ms"]["median"], figures["tflm"]["arena_bytes"]
    ```

    Returns:
        A dict: `accuracy`, `size_bytes`, `latency_ms` (`median`, `p90`:
        one `set_tensor` + `invoke` at batch 1 on the first test image),
        `num_threads`, `quantization` (read off the file's tensor types;
        a `qat` file reads as `int8`), `peak_memory_bytes` (how much the
        process's peak resident memory rose while the interpreter loaded
        and ran the file; 0 when it stayed under an earlier peak),
        `runs`, `warmup`, `num_test`. With `runtime="tflm"` also `tflm`:
        `accuracy`, `agreement` (share of test images whose top-1 class is
        LiteRT's), `arena_bytes` (from TFLM's allocator), `arena_tried_bytes`,
        `flash_bytes`, `operators`, `latency_ms`, `num_test`; and with a
        budget, `mcu` (see `edge.budget.mcu_budget`).

    Raises:
        kdkeras.errors.UsageError: not a TFLite file, images of another
            shape; for `tflm`, an operator TFLM lacks or too small an arena.
    """
    errors.check(runtime in RUNTIMES, f"--runtime={runtime}: expected one of {', '.join(RUNTIMES)}")
    errors.check(
        runtime == "tflm" or (mcu_ram_bytes is None and mcu_flash_bytes is None and arena_bytes is None),
        "--arena_bytes, --mcu_ram_bytes and --mcu_flash_bytes need --runtime=tflm (the arena is TFLite Micro's figure)",
    )
    if runtime == "tflm":
        from edge.tflm import tflm_footprint

        tflm_footprint(path, arena_bytes)  # an operator TFLM lacks, or too small an arena, before the long runs
    peak_before = _peak_rss_bytes()
    interpreter = _open(path, num_threads)
    _check_shape(interpreter, test_data, path)
    quantization = _quantization(interpreter)

    single = _open(path, num_threads)
    input_detail = single.get_input_details()[0]
    first = next(iter(test_data.unbatch().batch(1)))[0].numpy()
    image = to_input(first, input_detail)

    def invoke(x):
        single.set_tensor(input_detail["index"], x)
        single.invoke()

    latency = _latency(invoke, image, runs, warmup)
    predicted, labels = _predictions(interpreter, test_data, batch_size)
    result = {
        "path": os.path.abspath(path),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else 0.0,
        "size_bytes": os.path.getsize(path),
        "latency_ms": latency,
        "num_threads": int(num_threads),
        "quantization": quantization,
        "peak_memory_bytes": max(0, _peak_rss_bytes() - peak_before),
        "runs": int(runs),
        "warmup": int(warmup),
        "num_test": len(labels),
    }
    if runtime == "tflm":
        from edge.budget import mcu_budget
        from edge.tflm import benchmark_tflm

        tflm = benchmark_tflm(path, test_data, arena_bytes)
        agreement = float(np.mean(tflm.pop("predictions") == predicted)) if len(predicted) else 0.0
        result["tflm"] = {"accuracy": tflm.pop("accuracy"), "agreement": agreement, **tflm}
        if mcu_ram_bytes is not None or mcu_flash_bytes is not None:
            result["mcu"] = mcu_budget(tflm["arena_bytes"], tflm["flash_bytes"], mcu_ram_bytes, mcu_flash_bytes)
    return result


def _keras_call(model):
    """The model's inference as a traced call (not `predict`)."""
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def _keras_predictions(call, test_data):
    predicted, expected = [], []
    for pixels, labels in test_data:
        predicted.append(np.argmax(call(pixels).numpy(), axis=-1))
        expected.append(labels.numpy())
    return _joined(predicted, expected)


def _keras_figures(model, test_data, runs, warmup):
    """The float Keras model's accuracy and batch-1 latency (a traced call, not `predict`)."""
    call = _keras_call(model)
    predicted, labels = _keras_predictions(call, test_data)
    image = next(iter(test_data.unbatch().batch(1)))[0]
    accuracy = float(np.mean(predicted == labels)) if len(labels) else 0.0
    return {"accuracy": accuracy, "latency_ms": _latency(call, image, runs, warmup)}


FLAGS = flags.FLAGS


def define_flags():
    """The command's flags."""
    flags.DEFINE_string("model", None, "the .tflite file to measure")
    flags.DEFINE_string("dataset", None, "test data: mnist_sample, mnist, cifar10, cifar100 or imagefolder:PATH")
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory")
    flags.DEFINE_integer("num_threads", 1, "interpreter threads")
    flags.DEFINE_integer("runs", 200, "timed batch-1 invocations")
    flags.DEFINE_integer("warmup", 20, "untimed invocations before the timed ones")
    flags.DEFINE_string("output", None, "JSON file for the figures (written atomically)")
    flags.DEFINE_string("compare_keras", None, "a .keras model whose accuracy and latency go beside the file's")
    flags.DEFINE_enum("runtime", "litert", RUNTIMES, "litert, or tflm to also run the file in TFLite Micro")
    flags.DEFINE_integer("arena_bytes", None, "tflm: the tensor arena to try (default: grown until the model fits)")
    flags.DEFINE_integer("mcu_ram_bytes", None, "tflm: the microcontroller's RAM, held against the TFLM arena")
    flags.DEFINE_integer("mcu_flash_bytes", None, "tflm: the microcontroller's flash, held against the model's bytes")


def main(argv):
    """Benchmarks `--model` on `--dataset`, prints one line, writes `--output`."""
    from kdkeras import cli, data  # cli: a command's words for errors; the module is also a library

    errors.check(len(argv) == 1, f"unexpected arguments: {' '.join(argv[1:])}")
    errors.check(bool(FLAGS.model), "--model: required (a .tflite file)")
    errors.check(bool(FLAGS.dataset), "--dataset: required (the test split to measure on)")
    errors.check(FLAGS.num_threads >= 1, f"--num_threads={FLAGS.num_threads}: expected at least 1")
    errors.check(FLAGS.runs >= 1 and FLAGS.warmup >= 0, "--runs must be at least 1 and --warmup at least 0")
    interpreter = _open(FLAGS.model, 1)
    with cli.naming_flag("--dataset", FLAGS.dataset):
        splits = data.load(FLAGS.dataset, batch_size=128, data_dir=FLAGS.data_dir)
    _check_classes(interpreter, splits.info, FLAGS.model)
    result = {"dataset": FLAGS.dataset}
    result.update(
        benchmark_tflite(
            FLAGS.model,
            splits.test,
            FLAGS.num_threads,
            FLAGS.runs,
            FLAGS.warmup,
            runtime=FLAGS.runtime,
            arena_bytes=FLAGS.arena_bytes,
            mcu_ram_bytes=FLAGS.mcu_ram_bytes,
            mcu_flash_bytes=FLAGS.mcu_flash_bytes,
        )
    )
    if FLAGS.compare_keras:
        model = load_keras_model(FLAGS.compare_keras, splits.info, flag="--compare_keras")
        result["keras"] = _keras_figures(model, splits.test, FLAGS.runs, FLAGS.warmup)
    line = (
        f"{FLAGS.model}: {result['quantization']}, {result['size_bytes']} bytes, "
        f"accuracy {result['accuracy']:.4f} on {result['num_test']} {FLAGS.dataset} test images, "
        f"latency median {result['latency_ms']['median']:.3f} ms p90 {result['latency_ms']['p90']:.3f} ms "
        f"({result['num_threads']} thread{'s' if result['num_threads'] > 1 else ''})"
    )
    if "keras" in result:
        keras_figures = result["keras"]
        line += (
            f"; keras accuracy {keras_figures['accuracy']:.4f}, "
            f"latency median {keras_figures['latency_ms']['median']:.3f} ms"
        )
    lines = [line]
    if "tflm" in result:
        lines.append(tflm_line(FLAGS.model, result["tflm"]))
    if "mcu" in result:
        lines.append(budget_line(result["mcu"], FLAGS.model))
    if FLAGS.output:
        write_json_atomic(FLAGS.output, result)
    print("\n".join(lines))


def tflm_line(name, tflm):
    """One line of a file's TFLite Micro figures."""
    return (
        f"{name}: TFLite Micro accuracy {tflm['accuracy']:.4f} on {tflm['num_test']} images, "
        f"top-1 agreement with LiteRT {tflm['agreement']:.4f}, arena {tflm['arena_bytes']} bytes "
        f"(of {tflm['arena_tried_bytes']} tried), flash {tflm['flash_bytes']} bytes, "
        f"reference-kernel latency median {tflm['latency_ms']['median']:.3f} ms on this CPU"
    )


if __name__ == "__main__":
    from kdkeras import cli

    define_flags()
    app.run(cli.run(main), flags_parser=cli.parse_flags)
