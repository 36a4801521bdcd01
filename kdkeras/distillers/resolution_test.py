"""Teacher and student at their own input sizes, softmax outputs, and the one-line refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kdkeras
from kdkeras import models


@keras.saving.register_keras_serializable(package="kdkeras_test")
class Probe(keras.layers.Layer):
    """Passes its input through and keeps the last batch it saw, for the test to read."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(4,) + tuple(input_shape[1:]), initializer="zeros", trainable=False)

    def call(self, inputs):
        self.seen.assign(inputs[:4])
        return inputs


def _classifier(size, channels=3, num_classes=3, activation=None, probe=False, name=None, seed=0):
    keras.utils.set_random_seed(seed)
    stack = [keras.Input((size, size, channels))]
    if probe:
        stack.append(Probe(name="probe"))
    stack += [
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, strides=2),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes, activation=activation),
    ]
    return keras.Sequential(stack, name=name or f"cnn{size}")


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 16, 16, 3)).astype("float32")
    return x, (np.arange(64) % 3).astype("int64")


def _bilinear(x, size):
    """Half-pixel-centre bilinear resizing in numpy, independent of TensorFlow's."""
    h, w = x.shape[1:3]

    def grid(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(src).astype(int)
        return low, np.minimum(low + 1, n_in - 1), src - low

    y0, y1, fy = grid(h, size)
    x0, x1, fx = grid(w, size)
    rows = x[:, y0] * (1 - fy)[None, :, None, None] + x[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def test_each_network_sees_the_batch_at_its_own_size(images):
    x, y = images
    teacher = _classifier(24, probe=True, name="teacher24")
    student = _classifier(16, probe=True, name="student16", seed=1)
    distiller = kdkeras.Distiller(student, teacher)
    distiller.compile(optimizer="sgd", jit_compile=False)
    distiller.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(np.asarray(teacher.get_layer("probe").seen), _bilinear(x[:4], 24), atol=1e-3)
    np.testing.assert_array_equal(np.asarray(student.get_layer("probe").seen), x[:4])


def test_a_larger_teacher_gives_the_loss_of_its_logits_on_the_resized_batch(images):
    x, y = images
    teacher, student = _classifier(24), _classifier(16, seed=1)
    distiller = kdkeras.Distiller(student, teacher, temperature=2.0, alpha=1.0)
    distiller.compile(optimizer="sgd", jit_compile=False)
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt = np.asarray(teacher(_bilinear(x, 24))).astype("float64") / 2.0
    zs = np.asarray(student(x)).astype("float64") / 2.0
    p = np.exp(zt - zt.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    log_q = zs - zs.max(-1, keepdims=True) - np.log(np.exp(zs - zs.max(-1, keepdims=True)).sum(-1, keepdims=True))
    kd = 4.0 * np.sum(p * (np.log(p) - log_q), -1)
    np.testing.assert_allclose(logs["distillation_loss"], kd.mean(), rtol=1e-3)


def test_a_student_smaller_than_the_data_gets_it_resized(images):
    x, y = images
    distiller = kdkeras.Distiller(_classifier(8, probe=True, name="student8"), _classifier(16))
    distiller.compile(optimizer="sgd", jit_compile=False)
    distiller.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert distiller.predict(x, verbose=0).shape == (64, 3)
    assert tuple(distiller.student.get_layer("probe").seen.shape) == (4, 8, 8, 3)


def test_cached_teacher_logits_are_those_of_the_resized_view(images):
    x, y = images
    teacher = _classifier(24)
    cached = np.asarray(models.logits(teacher, tf.constant(x)))
    np.testing.assert_allclose(cached, np.asarray(teacher(_bilinear(x, 24))), atol=1e-4)
    results = []
    for inputs in (x, {"images": x, "teacher_logits": cached}):
        distiller = kdkeras.Distiller(_classifier(16, seed=1), teacher)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=False)
        distiller.fit(inputs, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        results.append([np.asarray(w) for w in distiller.student.weights])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_softmax_teacher_teaches_as_its_logits_would(images, capsys):
    x, y = images
    with_logits = _classifier(24, name="logits_teacher")
    with_softmax = _classifier(24, activation="softmax", name="softmax_teacher")
    with_softmax.set_weights(with_logits.get_weights())
    losses = []
    for teacher in (with_logits, with_softmax):
        distiller = kdkeras.Distiller(_classifier(16, seed=1), teacher, temperature=3.0, alpha=0.7)
        distiller.compile(optimizer="sgd", jit_compile=False)
        losses.append(distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    said = capsys.readouterr().out
    assert said.count("ends in a softmax") == 1 and "softmax_teacher" in said


def test_a_softmax_student_is_refused():
    with pytest.raises(ValueError, match="'soft'.*must output logits"):
        kdkeras.Distiller(_classifier(16, activation="softmax", name="soft"), _classifier(24))


def test_softmax_layers_and_nested_models_are_detected():
    inputs = keras.Input((4,))
    explicit = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(inputs)))
    nested = keras.Sequential([keras.Input((16, 16, 3)), _classifier(16, activation="softmax")])
    assert models.gives_probabilities(explicit) and models.gives_probabilities(nested)
    assert not models.gives_probabilities(_classifier(16))


def test_channel_and_class_mismatches_name_both_models_and_shapes():
    with pytest.raises(ValueError, match=r"'rgb'.*24x24x3.*'gray'.*16x16x1"):
        kdkeras.Distiller(_classifier(16, channels=1, name="gray"), _classifier(24, name="rgb"))
    with pytest.raises(ValueError, match=r"'ten'.*10 outputs.*'three' 3"):
        kdkeras.Distiller(_classifier(16, name="three"), _classifier(16, num_classes=10, name="ten"))


def test_a_keras_hub_style_task_runs_its_own_preprocessor(images):
    """A keras-hub task applies `preprocessor` in fit/predict but not in `__call__`; `logits` applies it."""
    x, _ = images

    class Task(keras.Model):
        def __init__(self):
            inputs = keras.Input((None, None, 3))
            super().__init__(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs)))
            self.preprocessor = keras.layers.Resizing(20, 20)

    task = Task()
    np.testing.assert_allclose(
        np.asarray(models.logits(task, tf.constant(x))), np.asarray(task(_bilinear(x, 20))), atol=1e-3
    )


@pytest.mark.slow
def test_saving_a_distiller_of_keras_applications(distiller_saving_test):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 32, 32, 3)).astype("float32")
    y = (np.arange(64) % 3).astype("int64")
    teacher = models.get("mobilenet_v2:alpha=0.35,input=48", (32, 32, 3), 3)
    student = models.get("mobilenet_v3_small:alpha=0.75,minimalistic=true", (40, 40, 3), 3)
    distiller = kdkeras.Distiller(student, teacher, temperature=3.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"], jit_compile=False)
    restored = distiller_saving_test(distiller, x, y)
    assert restored.teacher.get_layer("resize").size == (48, 48)
    assert restored.student.input_shape == (None, 40, 40, 3)
