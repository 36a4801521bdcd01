"""A small trained student and its exports, built once per test session."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURE_EPOCHS = 3


@pytest.fixture(scope="session")
def splits():
    from kdkeras import data

    return data.load("mnist_sample", batch_size=128)


@pytest.fixture(scope="session")
def keras_model_path(splits, tmp_path_factory):
    """ResNet-8 trained for a few epochs on mnist_sample, saved as `.keras`.

    The learning rate anneals to zero (cosine), as in every kdkeras recipe:
    a student stopped at a high rate is unconfident, and int8 rounding then
    flips more of its close calls.
    """
    import keras

    from kdkeras import models

    keras.utils.set_random_seed(0)
    model = models.get("resnet8", splits.info.input_shape, splits.info.num_classes, splits.info.normalization)
    model.compile(
        optimizer=keras.optimizers.SGD(
            keras.optimizers.schedules.CosineDecay(0.1, FIXTURE_EPOCHS * splits.info.num_train // 128),
            momentum=0.9,
            nesterov=True,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(splits.train, epochs=FIXTURE_EPOCHS, verbose=0)
    path = str(tmp_path_factory.mktemp("model") / "student.keras")
    model.save(path)
    return path


@pytest.fixture(scope="session")
def keras_model(keras_model_path):
    import keras

    return keras.models.load_model(keras_model_path)


@pytest.fixture(scope="session")
def exported(keras_model, splits, tmp_path_factory):
    """`exported(mode)`: the facts of the fixture model exported in `mode`, converted once."""
    from edge import export_tflite

    directory = tmp_path_factory.mktemp("tflite")
    cache = {}

    def export(mode):
        if mode not in cache:
            train = splits.train.take(10) if mode == "qat" else splits.train
            cache[mode] = export_tflite(keras_model, mode, str(directory / f"{mode}.tflite"), train_data=train)
        return cache[mode]

    return export


@pytest.fixture(scope="session")
def sign_tflite(tmp_path_factory):
    """A `.tflite` taking 28x28x1 images to 10 outputs through SIGN, an operator TFLite Micro has no kernel for."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, 28, 28, 1), tf.float32)])
    def signs(pixels):
        return tf.sign(tf.reshape(pixels, (1, 784)) - 128.0)[:, :10]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([signs.get_concrete_function()], signs)
    path = tmp_path_factory.mktemp("unsupported") / "sign.tflite"
    path.write_bytes(converter.convert())
    return str(path)
