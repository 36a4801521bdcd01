import importlib
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras import io
from kdkeras.models import FusedBatchNormalization

resnet_module = importlib.import_module("kdkeras.models.resnet")


def pair(**kwargs):
    """A fused layer and a plain Keras one with the same (non-trivial) weights."""
    fused, plain = FusedBatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    for layer in (fused, plain):
        layer.build((None, 6, 6, 4))
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in plain.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def inputs(seed=1):
    return tf.constant(np.random.default_rng(seed).normal(3.0, 2.0, (8, 6, 6, 4)).astype("float32"))


def reference_float64(x, upstream, gamma, beta, epsilon):
    """Batch norm over N, H, W and its gradients for `sum(y * upstream)`, in float64 from the definition."""
    x, g = x.astype(np.float64), upstream.astype(np.float64)
    mean, variance = x.mean((0, 1, 2)), x.var((0, 1, 2))
    normalized = (x - mean) / np.sqrt(variance + epsilon)
    y = gamma * normalized + beta
    d_gamma, d_beta = (g * normalized).sum((0, 1, 2)), g.sum((0, 1, 2))
    d_normalized = g * gamma
    d_x = (d_normalized - d_normalized.mean((0, 1, 2)) - normalized * (d_normalized * normalized).mean((0, 1, 2))) / (
        np.sqrt(variance + epsilon)
    )
    return y, (d_x, d_gamma, d_beta), mean, variance


def test_a_training_step_matches_the_definition_and_keras():
    fused, plain = pair(momentum=0.9)
    gamma, beta, start_mean, start_variance = plain.get_weights()
    x, upstream = inputs(), inputs(seed=3)
    y, gradients, batch_mean, batch_variance = reference_float64(
        x.numpy(), upstream.numpy(), gamma, beta, fused.epsilon
    )
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(outputs * upstream)
        np.testing.assert_allclose(outputs, y, atol=1e-5)
        # Sums of 288 float32 terms of magnitude ~10: both layers are within ~1e-3 of float64.
        for ours, exact in zip(tape.gradient(loss, [x, layer.gamma, layer.beta]), gradients):
            np.testing.assert_allclose(ours, exact, rtol=1e-4, atol=5e-3)
        # Keras's update: the batch's biased variance.
        np.testing.assert_allclose(layer.moving_mean, 0.9 * start_mean + 0.1 * batch_mean, rtol=1e-5)
        np.testing.assert_allclose(layer.moving_variance, 0.9 * start_variance + 0.1 * batch_variance, rtol=1e-5)


@pytest.mark.parametrize("case", ["inference", "frozen", "mask"])
def test_everything_but_a_training_step_is_keras_own_code(case):
    fused, plain = pair()
    x = inputs()
    kwargs = {"training": case != "inference"}
    if case == "frozen":
        fused.trainable = plain.trainable = False
    if case == "mask":
        kwargs["mask"] = tf.ones(x.shape[:-1], tf.bool)
    np.testing.assert_array_equal(fused(x, **kwargs), plain(x, **kwargs))


def test_a_saved_model_loads_with_its_configuration_and_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 4)), FusedBatchNormalization(momentum=0.8, epsilon=2e-3, center=False)]
    )
    model(inputs(), training=True)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.layers[0]
    assert type(layer) is FusedBatchNormalization
    assert (layer.momentum, layer.epsilon, layer.center) == (0.8, 2e-3, False)
    np.testing.assert_array_equal(loaded(inputs(2)), model(inputs(2)))


def train_resnet8(batch_norm, monkeypatch, steps=2):
    monkeypatch.setattr(resnet_module, "FusedBatchNormalization", batch_norm)
    keras.utils.set_random_seed(0)
    model = resnet_module.resnet(8, (16, 16, 3), 10)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (steps * 16, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 10, steps * 16)
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    return model.get_weights()


def test_a_resnet_trains_to_the_same_weights_as_with_keras_batch_norm(monkeypatch):
    fused = train_resnet8(FusedBatchNormalization, monkeypatch)
    plain = train_resnet8(keras.layers.BatchNormalization, monkeypatch)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(fused, plain))
    # Float rounding only (7.5e-7 measured). Later steps amplify it, as training does any rounding
    # difference: 2e-4 after 3 steps and 2e-2 after 5 at this learning rate, on random labels.
    assert difference < 1e-5, difference


def test_saved_through_kdkeras_io_a_model_holds_keras_layers_only(tmp_path):
    keras.utils.set_random_seed(0)
    model = resnet_module.resnet(8, (16, 16, 3), 10)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(0, 1, (16, 16, 16, 3)).astype("float32")
    model.fit(x, np.arange(16) % 10, verbose=0)
    path = tmp_path / "student.keras"
    io.save_model_atomic(model, str(path))
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "BatchNormalization" in config and "FusedBatchNormalization" not in config and "kdkeras" not in config
    loaded = keras.models.load_model(path)
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in loaded.layers)
    assert loaded.compiled and loaded.loss is not None
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
