import keras
import numpy as np
import pytest


def tiny_model(seed, num_classes=3, name=None):
    """A batch-norm-free classifier of 8 features, so updates are easy to recompute."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(num_classes)],
        name=name or f"tiny{seed}",
    )


@pytest.fixture
def problem():
    """A learnable 3-class problem: the class is the argmax of 3 of 8 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(384, 8)).astype("float32")
    y = np.argmax(x[:, :3], axis=1).astype("int64")
    return x, y


def weights_of(model):
    return [np.array(v) for v in model.weights]


def assert_same(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
