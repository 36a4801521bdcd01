"""`python -m edge.export`: a trained `.keras` student to a `.tflite` file (`--c_array`: and C++ for firmware).

Conversion goes through a SavedModel and `TFLiteConverter.from_saved_model`,
the documented path for Keras 3 models (`from_keras_model` has open bugs
with them, and Keras' own LiteRT export adds SELECT_TF_OPS, which an
integer-only microcontroller build cannot run). The file always takes raw
0-255 pixels, because the normalisation is the model's first layer.
"""

import os
import tempfile

import numpy as np
from absl import app, flags

from edge import native_output
from edge.keras_model import load_keras_model
from edge.names import QUANTIZATIONS
from kdkeras import errors
from kdkeras.io import write_bytes_atomic

_NEEDS_DATA = ("int8", "int16x8", "qat")


def export_tflite(
    model,
    quantization,
    output_path,
    train_data=None,
    calibration_steps=100,
    qat_epochs=1,
    prune=None,
    prune_epochs=1,
    fine_tune_learning_rate=1e-4,
):
    """Converts a Keras 3 model to a LiteRT (`.tflite`) file, written atomically.

    Args:
        model: a Keras 3 model taking raw 0-255 pixels and giving logits.
        quantization: one of `QUANTIZATIONS`:
            `float32` (no quantisation), `dynamic` (int8 weights, float
            activations), `float16` (float16 weights), `int8` (full integer
            with int8 input and output, builtin int8 ops only, so it runs on
            microcontrollers), `int16x8` (int16 activations, int8 weights)
            and `qat` (quantisation-aware fine-tuning with tfmot, then the
            `int8` conversion).
        output_path: where the `.tflite` goes; nothing is left there if the
            conversion fails.
        train_data: batched `(pixels, label)` training pipeline, e.g.
            `kdkeras.data.load(...).train`. Needed for `int8`, `int16x8`
            and `qat` (calibration) and for `prune` and `qat` (fine-tuning).
        calibration_steps: single training images used for calibration.
        qat_epochs: epochs of quantisation-aware fine-tuning (`qat`).
        prune: target sparsity in (0, 1) of the Conv2D and Dense kernels,
            reached by tfmot magnitude pruning during `prune_epochs` of
            fine-tuning before the conversion; `None` for no pruning.
        prune_epochs: epochs of pruning fine-tuning.
        fine_tune_learning_rate: Adam learning rate of QAT and pruning.

    Example:

    ```python
    splits = kdkeras.data.load("mnist_sample", batch_size=128)
    student = keras.saving.load_model("runs/blkd/student.keras")
    facts = edge.export_tflite(student, "int8", "student_int8.tflite", train_data=splits.train)
    facts["size_bytes"]
    ```

    Returns:
        A dict: `path`, `size_bytes`, `quantization`, and with pruning
        `prune` (the target) and `sparsity` (the share of zero weights in
        the pruned kernels).

    Raises:
        kdkeras.errors.UsageError: a bad mode or value, missing or mismatched
            data, or a model this mode cannot convert (the message says why).
    """
    errors.check(
        quantization in QUANTIZATIONS,
        f"--quantization={quantization}: expected one of {', '.join(QUANTIZATIONS)}",
    )
    errors.check(
        train_data is not None or (quantization not in _NEEDS_DATA and not prune),
        f"--quantization={quantization}{' with --prune' if prune else ''} needs training data (--dataset) "
        "for calibration or fine-tuning",
    )
    errors.check(prune is None or 0.0 < prune < 1.0, f"--prune={prune}: expected a sparsity between 0 and 1")
    errors.check(calibration_steps >= 1, f"--calibration_steps={calibration_steps}: expected at least 1")
    if train_data is not None:
        _check_data_fits(model, train_data)

    facts = {"quantization": quantization}
    with tempfile.TemporaryDirectory(prefix="edge-export-") as workdir:
        saved_model = os.path.join(workdir, "saved_model")
        if quantization == "qat" or prune:
            from edge.fine_tune import fine_tune

            tuned, tuning_facts = fine_tune(
                model,
                train_data,
                qat_epochs=qat_epochs if quantization == "qat" else 0,
                prune=prune,
                prune_epochs=prune_epochs,
                learning_rate=fine_tune_learning_rate,
            )
            facts.update(tuning_facts)
            _save_tf_keras(tuned, saved_model)
        else:
            model.export(saved_model, verbose=False)
        tflite = _convert(saved_model, quantization, train_data, calibration_steps)
    write_bytes_atomic(output_path, tflite)
    return {"path": os.path.abspath(output_path), "size_bytes": len(tflite), **facts}


def _save_tf_keras(model, directory):
    """A SavedModel of a tf_keras model (its own `export` prints every signature)."""
    import tensorflow as tf

    tf.saved_model.save(model, directory)


def _check_data_fits(model, train_data):
    pixels_spec, _ = train_data.element_spec[:2] if isinstance(train_data.element_spec, tuple) else (None, None)
    errors.check(pixels_spec is not None, "training data must yield (pixels, label) batches")
    expected = tuple(model.input_shape[1:])
    actual = tuple(pixels_spec.shape[1:])
    errors.check(
        actual == expected,
        f"--dataset: its images are {_shape(actual)} but the model takes {_shape(expected)}",
    )


def _shape(shape):
    return "x".join(str(d) for d in shape)


def _representative(train_data, steps):
    """Single training images for calibration, as float32 batches of one."""

    def generate():
        for pixels, _ in train_data.unbatch().take(steps):
            yield [np.asarray(pixels, dtype=np.float32)[None]]

    return generate


def _convert(saved_model, quantization, train_data, calibration_steps):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization in _NEEDS_DATA:
        converter.representative_dataset = _representative(train_data, calibration_steps)
    if quantization in ("int8", "qat"):
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if quantization == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    with native_output.captured(2) as log:
        try:
            return converter.convert()
        except Exception as error:  # ConverterError, ValueError, RuntimeError from the MLIR converter
            reason = _first_error_line(str(error)) or _first_error_line(log()) or type(error).__name__
    raise errors.UsageError(f"--quantization={quantization}: the model cannot be converted: {reason}")


def _first_error_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line.lower():
            return line.split("error:", 1)[-1].strip()
    return lines[0] if lines else ""


FLAGS = flags.FLAGS


def define_flags():
    """The command's flags."""
    flags.DEFINE_string("model", None, "trained Keras model (.keras) taking raw 0-255 pixels")
    flags.DEFINE_string("quantization", "float32", "one of " + ", ".join(QUANTIZATIONS))
    flags.DEFINE_string("output", None, "the .tflite file to write")
    flags.DEFINE_string("dataset", None, "training data for calibration and fine-tuning (e.g. mnist_sample)")
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory")
    flags.DEFINE_integer("calibration_steps", 100, "training images used to calibrate int8 and int16x8")
    flags.DEFINE_integer("qat_epochs", 1, "epochs of quantisation-aware fine-tuning (--quantization=qat)")
    flags.DEFINE_float("prune", None, "target sparsity in (0, 1): tfmot magnitude pruning before export")
    flags.DEFINE_integer("prune_epochs", 1, "epochs of pruning fine-tuning (with --prune)")
    flags.DEFINE_integer("batch_size", 128, "batch size of fine-tuning")
    flags.DEFINE_bool(
        "c_array",
        False,
        "also write the model as C++ for TFLite Micro firmware: <output>.cc, <output>.h, <output>_ops.h",
    )


def main(argv):
    """Exports `--model` to `--output` and prints one line of facts."""
    from kdkeras import cli  # a command's words for errors; the module is also a library

    errors.check(len(argv) == 1, f"unexpected arguments: {' '.join(argv[1:])}")
    errors.check(bool(FLAGS.model), "--model: required (a .keras file)")
    errors.check(bool(FLAGS.output), "--output: required (a .tflite file)")
    errors.check(
        FLAGS.quantization in QUANTIZATIONS,
        f"--quantization={FLAGS.quantization}: expected one of {', '.join(QUANTIZATIONS)}",
    )
    errors.check(
        FLAGS.dataset or (FLAGS.quantization not in _NEEDS_DATA and FLAGS.prune is None),
        f"--quantization={FLAGS.quantization}{' with --prune' if FLAGS.prune is not None else ''} needs --dataset "
        "(training images for calibration or fine-tuning)",
    )
    train_data, info = None, None
    if FLAGS.dataset:
        from kdkeras import data

        with cli.naming_flag("--dataset", FLAGS.dataset):
            splits = data.load(FLAGS.dataset, batch_size=FLAGS.batch_size, data_dir=FLAGS.data_dir)
        train_data, info = splits.train, splits.info
    model = load_keras_model(FLAGS.model, info)
    facts = export_tflite(
        model,
        FLAGS.quantization,
        FLAGS.output,
        train_data=train_data,
        calibration_steps=FLAGS.calibration_steps,
        qat_epochs=FLAGS.qat_epochs,
        prune=FLAGS.prune,
        prune_epochs=FLAGS.prune_epochs,
    )
    extra = f", sparsity {facts['sparsity']:.2f}" if "sparsity" in facts else ""
    if FLAGS.c_array:
        from edge.c_array import write_c_array

        written = write_c_array(facts["path"])
        extra += (
            f"; C array {written['source']} and {written['header']}, "
            f"{len(written['operators'])} operators registered in {written['ops_header']}"
        )
    print(f"{facts['path']}: {facts['quantization']}, {facts['size_bytes']} bytes{extra}")


if __name__ == "__main__":
    from kdkeras import cli

    define_flags()
    app.run(cli.run(main), flags_parser=cli.parse_flags)
