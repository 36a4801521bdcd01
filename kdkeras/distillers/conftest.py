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


def _without_models(config, keys):
    return {k: v for k, v in config.items() if k not in keys}


@pytest.fixture
def distiller_saving_test(tmp_path):
    """Saves a trained distiller as `.keras`, reloads it, and checks it is the same.

    The same class, every config field (the models compared by their own
    configs), the same predictions, the frozen models still frozen and
    unchanged, and the optimizer state restored. Every distiller's test
    calls it (as keras-hub's `run_model_saving_test`).
    """

    def run(distiller, x, y):
        distiller.fit(x, y, batch_size=64, epochs=1, verbose=0)
        path = tmp_path / f"{distiller.name}.keras"
        distiller.save(path)
        restored = keras.models.load_model(path)
        assert type(restored) is type(distiller)
        models = ("student",) + type(distiller).FROZEN_MODEL_ARGUMENTS
        original, loaded = distiller.get_config(), restored.get_config()
        assert _without_models(loaded, models) == _without_models(original, models)
        for key in models:
            assert loaded[key]["config"]["name"] == original[key]["config"]["name"]
        np.testing.assert_allclose(
            np.asarray(restored.predict(x, verbose=0)), np.asarray(distiller.predict(x, verbose=0)), atol=1e-6
        )
        for key in type(distiller).FROZEN_MODEL_ARGUMENTS:
            frozen, reloaded = getattr(distiller, key), getattr(restored, key)
            assert not reloaded.trainable and not reloaded.trainable_weights
            assert_same(weights_of(reloaded), weights_of(frozen))
        assert restored.student.trainable
        assert int(restored.optimizer.iterations) == int(distiller.optimizer.iterations)
        return restored

    return run
