"""Trains each distiller under the default and a 2-replica MirroredStrategy.

Run as a script (the logical CPU devices must be set before TensorFlow
starts); prints one JSON line: the largest weight difference per method.
"""

import json

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kdkeras  # noqa: E402


def tiny(seed, num_classes=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(num_classes)]
    )


def data(cached_teacher=False):
    """256 examples in batches of 64; with `cached_teacher`, teacher logits
    that are wrong only on examples 0-3, all in the first replica's half of
    the first batch, so the other batches skip WSKD's step 2 on every replica."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = np.argmax(x[:, :3], axis=1).astype("int64")
    if not cached_teacher:
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    wrong_class = y.copy()
    wrong_class[:4] = (y[:4] + 1) % 3
    logits = 5.0 * np.eye(3, dtype="float32")[wrong_class]
    return tf.data.Dataset.from_tensor_slices(({"images": x, "teacher_logits": logits}, y)).batch(64)


MAKERS = {
    "blkd": lambda s, t, p: kdkeras.Distiller(s, t, temperature=2.0, alpha=0.7),
    "wskd": lambda s, t, p: kdkeras.WiseStudentDistiller(s, t, temperature=2.0, alpha=0.7, beta=0.4),
    "wskd_errors_on_one_replica": lambda s, t, p: kdkeras.WiseStudentDistiller(
        s, t, temperature=2.0, alpha=0.7, beta=0.4
    ),
    "gskd": lambda s, t, p: kdkeras.GrowingStudentDistiller(s, t, p, temperature=2.0, alpha=0.7, gamma=0.5),
}


def train(strategy, method):
    with strategy.scope():
        teacher, previous, student = tiny(1), tiny(3), tiny(2)
        distiller = MAKERS[method](student, teacher, previous)
        distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    history = distiller.fit(data(cached_teacher=method.endswith("one_replica")), epochs=2, verbose=0)
    return [np.array(w) for w in student.weights], history.history


def main():
    report = {}
    mirrored = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    for method in MAKERS:
        single, single_history = train(tf.distribute.get_strategy(), method)
        multi, multi_history = train(mirrored, method)
        report[method] = {
            "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi)),
            "loss": [single_history["loss"][-1], multi_history["loss"][-1]],
            "step2_examples": [single_history.get("step2_examples"), multi_history.get("step2_examples")],
            "replicas": mirrored.num_replicas_in_sync,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
