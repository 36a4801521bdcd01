import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras import models
from kdkeras.distillers.conftest import assert_same, weights_of
from kdkeras.distillers.distiller import TEACHER_LOGITS
from kdkeras.distillers.feature_distiller import FeatureDistiller
from kdkeras.models import features

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default


def conv_model(seed, channels, strides, name, classes=3, size=8):
    """Pixels `size`x`size`x3 -> a named feature map `features` -> logits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(channels, 3, strides=strides, padding="same", activation="relu", name="features")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name=name)


def dense_model(seed, width, name, classes=3):
    """8 features -> a named hidden vector `features` -> logits."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    x = keras.layers.Dense(width, activation="tanh", name="features")(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name=name)


def images(count, seed=0, size=8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, size, size, 3)).astype("float32")
    return x, rng.integers(0, 3, size=count).astype("int64")


def vectors(count, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 8)).astype("float32")
    return x, np.argmax(x[:, :3], axis=1).astype("int64")


def layer_output(model, name, x):
    return np.asarray(keras.Model(model.input, model.get_layer(name).output)(x)).astype("float64")


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def set_known_projection(distiller, seed):
    """Random weights and batch-norm statistics in the projection; returns them as float64 arrays."""
    rng = np.random.default_rng(seed)
    linear, bn = distiller.projection.layers
    kernel = rng.normal(size=linear.kernel.shape)
    gamma, beta, mean = (rng.normal(size=bn.gamma.shape) for _ in range(3))
    variance = rng.uniform(0.5, 2.0, size=bn.gamma.shape)
    linear.set_weights([kernel])
    bn.set_weights([gamma, beta, mean, variance])
    return kernel.reshape(kernel.shape[-2:]), gamma, beta, mean, variance


def bilinear_halving(maps):
    """Bilinear resizing to half the height and width with half-pixel centres: each 2x2 block's mean."""
    n, h, w, c = maps.shape
    return maps.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@pytest.mark.parametrize("kind", ["maps", "vectors"])
def test_losses_are_the_formula_with_a_known_projection(kind):
    if kind == "maps":  # student 8x8x4, teacher 4x4x6: resized, then a 1x1 convolution
        student, teacher = conv_model(1, 4, 1, "student"), conv_model(2, 6, 2, "teacher")
        x, y = images(16)
    else:  # student 5 features, teacher 7: a dense layer
        student, teacher = dense_model(1, 5, "student"), dense_model(2, 7, "teacher")
        x, y = vectors(16)
    distiller = FeatureDistiller(
        student, teacher, "features", "features", hint_weight=3.0, ce_weight=0.7, kd_weight=0.4, temperature=2.0
    )
    kernel, gamma, beta, mean, variance = set_known_projection(distiller, seed=5)
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)

    f_s, f_t = layer_output(student, "features", x), layer_output(teacher, "features", x)
    if kind == "maps":
        f_s = bilinear_halving(f_s)
    projected = (f_s @ kernel - mean) / np.sqrt(variance + BN_EPSILON) * gamma + beta  # batch norm, inference
    hint = ((projected - f_t) ** 2).reshape(len(x), -1).mean(axis=1)
    z_s, z_t = np.asarray(student(x)).astype("float64"), np.asarray(teacher(x)).astype("float64")
    ce = -log_softmax(z_s)[np.arange(len(y)), y]
    log_p_t, log_p_s = log_softmax(z_t / 2.0), log_softmax(z_s / 2.0)
    kd = 4.0 * np.sum(np.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    np.testing.assert_allclose(logs["distillation_loss"], hint.mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], ce.mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["kd_loss"], kd.mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], np.mean(0.7 * ce + 3.0 * hint + 0.4 * kd), rtol=1e-4)


def test_cached_teacher_logits_are_accepted_and_the_teacher_still_runs():
    student, teacher = conv_model(1, 4, 1, "student"), conv_model(2, 6, 2, "teacher")
    x, y = images(16)
    distiller = FeatureDistiller(student, teacher, "features", "features", kd_weight=1.0)
    distiller.compile(optimizer="sgd")
    plain = distiller.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    cached = {"images": x, TEACHER_LOGITS: np.zeros((16, 3), "float32")}
    with_cache = distiller.evaluate(cached, y, batch_size=16, return_dict=True, verbose=0)
    for key in ("loss", "distillation_loss", "kd_loss"):
        np.testing.assert_allclose(with_cache[key], plain[key], rtol=1e-6)


def test_each_network_sees_the_batch_at_its_own_input_size():
    student, teacher = conv_model(1, 4, 1, "student"), conv_model(2, 6, 1, "teacher", size=16)
    x, y = images(16)
    distiller = FeatureDistiller(student, teacher, "features", "features")
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    got, _ = features.features_and_logits(distiller.teacher_extractor, teacher, x)
    expected = layer_output(teacher, "features", tf.image.resize(x, (16, 16)))  # bilinear, as kdkeras resizes
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-5)
    student_features, _ = distiller.student_extractor(x)
    hint = ((np.asarray(distiller.project(student_features, got, False)) - np.asarray(got)) ** 2).mean()
    np.testing.assert_allclose(logs["distillation_loss"], hint, rtol=1e-5)


def test_student_and_projection_train_the_teacher_does_not_and_the_saved_student_is_plain(tmp_path):
    student, teacher = conv_model(1, 4, 1, "student"), conv_model(2, 6, 2, "teacher")
    x, y = images(64)
    distiller = FeatureDistiller(student, teacher, "features", "features")
    before_teacher = weights_of(teacher)
    before = {v.path: np.array(v) for v in student.trainable_weights + distiller.projection.trainable_weights}
    distiller.compile(optimizer=keras.optimizers.SGD(0.01), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert {"loss", "student_loss", "distillation_loss", "kd_loss", "accuracy"} <= set(history.history)
    assert_same(before_teacher, weights_of(teacher))
    for variable in student.trainable_weights + distiller.projection.trainable_weights:
        assert not np.allclose(np.asarray(variable), before[variable.path]), variable.path

    distiller.save_student(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in student.layers]
    assert [v.path for v in loaded.weights] == [v.path for v in student.weights]
    assert_same(weights_of(loaded), weights_of(student))
    assert not any("projection" in v.path for v in loaded.weights)


def test_saving_round_trip_keeps_the_projection(distiller_saving_test):
    student, teacher = conv_model(1, 4, 1, "student"), conv_model(2, 6, 2, "teacher")
    x, y = images(64)
    distiller = FeatureDistiller(
        student, teacher, "features", "features", hint_weight=50.0, ce_weight=0.5, kd_weight=0.25, temperature=3.0
    )
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    restored = distiller_saving_test(distiller, x, y)
    config = restored.get_config()
    assert (config["student_layer"], config["teacher_layer"]) == ("features", "features")
    assert (config["hint_weight"], config["ce_weight"], config["kd_weight"]) == (50.0, 0.5, 0.25)
    assert "alpha" not in config
    assert_same(weights_of(restored.projection), weights_of(distiller.projection))
    original = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    reloaded = restored.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    np.testing.assert_allclose(reloaded["distillation_loss"], original["distillation_loss"], rtol=1e-6)
    restored.fit(x, y, batch_size=64, epochs=1, verbose=0)  # the restored optimizer carries on
    assert int(restored.optimizer.iterations) == int(distiller.optimizer.iterations) + 1


def test_default_layers_of_kdkeras_resnets_are_the_second_stages():
    student, teacher = models.get("resnet8", (32, 32, 3), 10), models.get("resnet26", (32, 32, 3), 10)
    distiller = FeatureDistiller(student, teacher)
    assert (distiller.student_layer, distiller.teacher_layer) == ("stage2_block1_out", "stage2_block4_out")
    assert distiller.student_extractor.outputs[0].shape == (None, 16, 16, 32)
    assert distiller.teacher_extractor.outputs[0].shape == (None, 16, 16, 32)
    assert distiller.projection.layers[0].kernel.shape == (1, 1, 32, 32)
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    student_features, _ = distiller.student_extractor(x)
    teacher_features, _ = distiller.teacher_extractor(x)
    assert distiller.project(student_features, teacher_features, False).shape == teacher_features.shape


def test_models_without_a_default_layer_need_one_by_name():
    student, teacher = models.plain_cnn(2, (32, 32, 3), 10), models.get("resnet26", (32, 32, 3), 10)
    with pytest.raises(ValueError, match="student_layer: 'plain2' is not a kdkeras ResNet"):
        FeatureDistiller(student, teacher)
    with pytest.raises(ValueError, match="teacher_layer: the model 'resnet26' has no layer 'nowhere'"):
        FeatureDistiller(student, teacher, "relu2", "nowhere")
    with pytest.raises(ValueError, match="both must be maps"):
        FeatureDistiller(student, teacher, "relu2", "pool")


def fit_one_epoch_and_check(student, teacher, teacher_layer, size=32):
    """A FitNets epoch of 8 images from `teacher_layer`: finite losses, a frozen teacher, a trained student."""
    x = np.random.default_rng(0).uniform(0, 255, size=(8, size, size, 3)).astype("float32")
    y = np.arange(8) % 10
    distiller = FeatureDistiller(student, teacher, teacher_layer=teacher_layer)
    before_student, before_teacher = weights_of(student), weights_of(teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(0.01))
    logs = distiller.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and logs["distillation_loss"][0] > 0
    assert_same(before_teacher, weights_of(teacher))
    assert not np.allclose(weights_of(student)[0], before_student[0])
    return distiller


def test_keras_applications_teacher_by_layer_name():
    teacher = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.35, classifier_activation=None
    )
    distiller = fit_one_epoch_and_check(models.get("resnet8", (32, 32, 3), 10), teacher, "block_2_add")
    # the student's 16x16x32 map is resized to the teacher's 8x8 and projected to its 8 channels
    assert distiller.teacher_extractor.outputs[0].shape == (None, 8, 8, 8)
    assert distiller.projection.layers[0].kernel.shape == (1, 1, 32, 8)


def test_keras_hub_task_teacher_by_layer_name():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        image_shape=(24, 24, 3),
    )
    converter = keras_hub.layers.ResNetImageConverter(image_size=(24, 24), scale=1 / 255.0)
    teacher = keras_hub.models.ResNetImageClassifier(
        backbone=backbone,
        num_classes=10,
        preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter),
    )
    distiller = fit_one_epoch_and_check(models.get("resnet8", (32, 32, 3), 10), teacher, "stack1_block0_out")
    # the hint is the backbone's layer on the task's own preprocessing (32x32 pixels resized to 24x24)
    x = np.random.default_rng(1).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    got, _ = features.features_and_logits(distiller.teacher_extractor, teacher, x)
    expected = keras.Model(backbone.input, backbone.get_layer("stack1_block0_out").output)(converter(x))
    assert got.shape == (2, 3, 3, 64)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5)


def two_replica_report():
    """FitNets for one epoch on 1 and on 2 replicas; prints the largest difference of the trained weights.

    Run in a process with two logical CPUs (`test_two_replicas_train_as_one`).
    """
    x, y = vectors(128)
    results = []
    for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])):
        with strategy.scope():
            student, teacher = dense_model(1, 5, "student"), dense_model(2, 7, "teacher")
            distiller = FeatureDistiller(student, teacher, "features", "features", hint_weight=10.0, kd_weight=0.5)
            distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        history = distiller.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(64), epochs=1, verbose=0).history
        trained = [np.array(w) for w in student.weights + distiller.projection.weights]
        results.append((trained, history, strategy.num_replicas_in_sync))
    (single, single_history, _), (multi, multi_history, replicas) = results
    print(
        json.dumps(
            {
                "replicas": replicas,
                "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi)),
                "losses": [single_history["distillation_loss"], multi_history["distillation_loss"]],
            }
        )
    )


TWO_LOGICAL_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kdkeras.distillers import feature_distiller_test
feature_distiller_test.two_replica_report()
"""


def test_two_replicas_train_as_one():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    result = subprocess.run(
        [sys.executable, "-c", TWO_LOGICAL_CPUS], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["max_weight_difference"] < 1e-5, report
    np.testing.assert_allclose(report["losses"][1], report["losses"][0], rtol=1e-5)
