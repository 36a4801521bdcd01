"""A MobileNetV3Small student (hard-swish), distilled from a teacher at another size, to LiteRT."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # each conversion of a MobileNetV3 takes tens of seconds on 2 CPU cores

SIZE, CLASSES = 32, 3


@pytest.fixture(scope="module")
def colours():
    """Images whose class is their dominant colour channel: learnable in a few epochs."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, 384)
    pixels = rng.uniform(0, 120, (384, SIZE, SIZE, 3)).astype("float32")
    pixels[np.arange(384), :, :, labels] += 120
    data = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(64)
    return pixels, labels, data


@pytest.fixture(scope="module")
def student(colours):
    import keras

    import kdkeras
    from kdkeras import models

    pixels, labels, data = colours
    keras.utils.set_random_seed(0)
    teacher = models.get("plain2", (48, 48, 3), CLASSES)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    teacher.fit(keras.ops.image.resize(pixels, (48, 48)), labels, epochs=3, verbose=0)
    student = models.get("mobilenet_v3_small:alpha=0.75", (SIZE, SIZE, 3), CLASSES)
    for layer in student.get_layer("MobileNetV3Small").layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # Keras' 0.999 needs ImageNet-length training to settle
    distiller = kdkeras.Distiller(student, teacher, temperature=2.0, alpha=0.5)
    distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"], jit_compile=False)
    distiller.fit(data, epochs=6, verbose=0)
    for _ in range(5):  # settle the batch-norm statistics on the final weights (36 steps are too few)
        for batch, _ in data:
            student(batch, training=True)
    return student


@pytest.fixture(scope="module")
def exported(student, colours, tmp_path_factory):
    from edge import export_tflite

    directory, cache = tmp_path_factory.mktemp("mobilenet"), {}

    def export(mode):
        if mode not in cache:
            cache[mode] = export_tflite(student, mode, str(directory / f"{mode}.tflite"), train_data=colours[2])
        return cache[mode]

    return export


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=2)
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("mode", ["float32", "dynamic", "float16"])
def test_float_modes_convert_and_agree_with_keras(mode, exported, student, colours):
    from edge import benchmark_tflite

    pixels, labels, data = colours
    figures = benchmark_tflite(exported(mode)["path"], data, runs=2, warmup=0)
    keras_accuracy = np.mean(student.predict(pixels, verbose=0).argmax(-1) == labels)
    assert abs(figures["accuracy"] - keras_accuracy) <= 0.02


def test_int8_keeps_hard_swish_takes_raw_pixels_and_keeps_accuracy(exported, student, colours):
    from edge import benchmark_tflite

    pixels, labels, data = colours
    facts = exported("int8")
    interpreter = _interpreter(facts["path"])
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "HARD_SWISH" in ops and not any("FlexDelegate" in op or op == "CUSTOM" for op in ops)
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.int8 and tuple(detail["shape"][1:]) == (SIZE, SIZE, 3)
    keras_accuracy = np.mean(student.predict(pixels, verbose=0).argmax(-1) == labels)
    assert keras_accuracy > 0.9  # chance is 1/3
    int8 = benchmark_tflite(facts["path"], data, runs=2, warmup=0)
    assert int8["accuracy"] >= keras_accuracy - 0.03
    assert facts["size_bytes"] < exported("float32")["size_bytes"] / 2.5


def test_int16x8_refuses_hard_swish_in_one_line(exported):
    from kdkeras.errors import UsageError

    with pytest.raises(
        UsageError, match=r"^--quantization=int16x8: the model cannot be converted: .*HARD_SWISH[^\n]*$"
    ):
        exported("int16x8")


def test_minimalistic_student_converts_to_int16x8(colours, tmp_path):
    from edge import export_tflite
    from kdkeras import models

    model = models.get("mobilenet_v3_small:alpha=0.75,minimalistic=true", (SIZE, SIZE, 3), CLASSES)
    facts = export_tflite(model, "int16x8", str(tmp_path / "m.tflite"), train_data=colours[2], calibration_steps=16)
    interpreter = _interpreter(facts["path"])
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], colours[0][:1])
    interpreter.invoke()
    assert np.isfinite(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])).all()


def test_a_student_resizing_inside_exports_one_resize_operator(colours, tmp_path):
    from edge import export_tflite
    from kdkeras import models

    model = models.get("mobilenet_v3_small:alpha=0.75,minimalistic=true,input=48", (SIZE, SIZE, 3), CLASSES)
    facts = export_tflite(model, "int8", str(tmp_path / "m.tflite"), train_data=colours[2], calibration_steps=16)
    ops = {op["op_name"] for op in _interpreter(facts["path"])._get_ops_details()}
    assert "RESIZE_BILINEAR" in ops and not ops & {"VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE"}
