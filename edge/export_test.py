"""Each export mode converts the fixture student and keeps its predictions."""

import os
import subprocess
import sys

import numpy as np
import pytest

from edge import QUANTIZATIONS, benchmark_tflite
from edge.tensor_io import from_output, to_input

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _test_arrays(splits):
    pixels, labels = zip(*[(x.numpy(), y.numpy()) for x, y in splits.test])
    return np.concatenate(pixels), np.concatenate(labels)


def _tflite_logits(path, pixels):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=2)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], pixels.shape)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], to_input(pixels, detail))
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    return from_output(interpreter.get_tensor(output["index"]), output)


@pytest.mark.parametrize("mode", [m for m in QUANTIZATIONS if m != "qat"])
def test_each_mode_converts_and_runs(mode, exported, splits):
    facts = exported(mode)
    assert facts["quantization"] == mode
    assert os.path.getsize(facts["path"]) == facts["size_bytes"] > 0
    pixels, labels = _test_arrays(splits)
    logits = _tflite_logits(facts["path"], pixels[:64])
    assert logits.shape == (64, splits.info.num_classes)
    assert np.isfinite(logits).all()


def test_float32_logits_match_keras(exported, keras_model, splits):
    pixels, _ = _test_arrays(splits)
    expected = keras_model.predict(pixels[:256], verbose=0)
    np.testing.assert_allclose(_tflite_logits(exported("float32")["path"], pixels[:256]), expected, atol=1e-4)


def test_int8_takes_raw_pixels_and_agrees_with_keras(exported, keras_model, splits):
    from ai_edge_litert.interpreter import Interpreter

    path = exported("int8")["path"]
    detail = Interpreter(model_path=path).get_input_details()[0]
    assert detail["dtype"] == np.int8
    scale, zero_point = detail["quantization"]
    assert (0 / scale + zero_point, 255 / scale + zero_point) == (-128, 127)
    pixels, _ = _test_arrays(splits)
    agreement = np.mean(_tflite_logits(path, pixels).argmax(-1) == keras_model.predict(pixels, verbose=0).argmax(-1))
    assert agreement >= 0.99


def test_int8_is_under_a_third_of_float32(exported):
    assert exported("int8")["size_bytes"] < exported("float32")["size_bytes"] / 3


@pytest.mark.slow  # an end-to-end training of over ten seconds: in `pytest -m slow`
def test_int8_and_qat_keep_accuracy_within_one_point(exported, splits):
    float_accuracy = benchmark_tflite(exported("float32")["path"], splits.test, runs=1, warmup=0)["accuracy"]
    assert float_accuracy > 0.8
    int8_accuracy = benchmark_tflite(exported("int8")["path"], splits.test, runs=1, warmup=0)["accuracy"]
    assert abs(int8_accuracy - float_accuracy) <= 0.01
    qat = benchmark_tflite(exported("qat")["path"], splits.test, runs=1, warmup=0)
    assert qat["quantization"] == "int8"
    assert qat["accuracy"] >= float_accuracy - 0.01


def test_keras3_still_works_after_tfmot(splits, tmp_path):
    import keras

    from edge import export_tflite
    from kdkeras import models

    def plain2():
        return models.get("plain2", splits.info.input_shape, splits.info.num_classes, splits.info.normalization)

    # A tiny model's quantization-aware export is enough to load and run tfmot (on tf_keras) in this process.
    export_tflite(plain2(), "qat", str(tmp_path / "qat.tflite"), train_data=splits.train.take(1))
    assert os.environ.get("TF_USE_LEGACY_KERAS") == "1"
    model = plain2()
    assert isinstance(model, keras.Model) and keras.__version__.startswith("3.")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(splits.train.take(2), epochs=1, verbose=0)
    facts = export_tflite(model, "float32", str(tmp_path / "after.tflite"))
    pixels, _ = _test_arrays(splits)
    np.testing.assert_allclose(
        _tflite_logits(facts["path"], pixels[:32]), model.predict(pixels[:32], verbose=0), atol=1e-4
    )


@pytest.mark.slow  # ten seconds of training or more: in `pytest -m slow`
def test_prune_reaches_the_target_sparsity(keras_model, splits, tmp_path):
    from edge import export_tflite

    facts = export_tflite(
        keras_model, "int8", str(tmp_path / "pruned.tflite"), train_data=splits.train.take(8), prune=0.5
    )
    assert facts["prune"] == 0.5
    assert facts["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert benchmark_tflite(facts["path"], splits.test, runs=1, warmup=0)["accuracy"] > 0.5


def test_library_errors_leave_no_file(keras_model, tmp_path):
    from edge import export_tflite
    from kdkeras.errors import UsageError

    output = tmp_path / "model.tflite"
    with pytest.raises(UsageError, match="--quantization=int4"):
        export_tflite(keras_model, "int4", str(output))
    with pytest.raises(UsageError, match="needs training data"):
        export_tflite(keras_model, "int8", str(output))
    assert os.listdir(tmp_path) == []


def _run(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _assert_one_error_line(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_cli_exports(keras_model_path, tmp_path):
    output = tmp_path / "student.tflite"
    result = _run("edge.export", f"--model={keras_model_path}", "--quantization=float16", f"--output={output}")
    assert result.returncode == 0, result.stderr
    assert "float16" in result.stdout and output.stat().st_size > 0


def test_cli_rejects_a_malformed_flag_in_one_line(tmp_path):
    result = _run(
        "edge.export", "--model=student.keras", f"--output={tmp_path / 'out.tflite'}", "--calibration_steps=x"
    )
    _assert_one_error_line(result, "--calibration_steps=x")
    assert "FATAL" not in result.stderr and "RuntimeWarning" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_cli_rejects_a_file_that_is_not_a_keras_model(tmp_path):
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a model")
    output = tmp_path / "out.tflite"
    result = _run("edge.export", f"--model={bogus}", f"--output={output}")
    _assert_one_error_line(result, "--model=", "not a Keras model")
    assert os.listdir(tmp_path) == ["bogus.keras"]


def test_cli_rejects_a_dataset_of_another_shape(tmp_path):
    from kdkeras import models

    path = tmp_path / "cifar_shaped.keras"
    models.get("plain2", (32, 32, 3), 10).save(path)
    result = _run(
        "edge.export",
        f"--model={path}",
        "--quantization=int8",
        "--dataset=mnist_sample",
        f"--output={tmp_path / 'o.tflite'}",
    )
    _assert_one_error_line(result, "--dataset=mnist_sample", "32x32x3")
    assert not (tmp_path / "o.tflite").exists()


def test_cli_rejects_a_mode_the_model_cannot_take(tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "layernorm.keras"
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    result = _run(
        "edge.export",
        f"--model={path}",
        "--quantization=qat",
        "--dataset=mnist_sample",
        f"--output={tmp_path / 'o.tflite'}",
    )
    _assert_one_error_line(result, "--quantization=qat", "LayerNormalization")
    assert not (tmp_path / "o.tflite").exists()
