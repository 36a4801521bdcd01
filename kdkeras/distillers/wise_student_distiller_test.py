import keras
import numpy as np
import pytest
import tensorflow as tf

import kdkeras
from kdkeras.distillers.conftest import assert_same, tiny_model, weights_of


def one_step(distiller_cls, x, y, teacher_logits, optimizer, **kwargs):
    """One batch through a fresh distiller; returns (distiller, student weights, optimizer variables)."""
    distiller = distiller_cls(tiny_model(2), tiny_model(1), temperature=2.0, alpha=0.5, **kwargs)
    distiller.compile(optimizer=optimizer)
    history = distiller.fit({"images": x, "teacher_logits": teacher_logits}, y, batch_size=len(x), epochs=1, verbose=0)
    return distiller, history, weights_of(distiller.student), [np.array(v) for v in distiller.optimizer.variables]


@pytest.mark.parametrize("forward", ["batch", "misclassified"])
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_batch_without_teacher_errors_is_exactly_step_one(problem, optimizer, forward):
    x, y = problem[0][:64], problem[1][:64]
    correct_teacher = 5.0 * np.eye(3, dtype="float32")[y]

    def make():
        return keras.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd_momentum" else keras.optimizers.Adam(0.01)

    _, _, blkd_weights, blkd_slots = one_step(kdkeras.Distiller, x, y, correct_teacher, make())
    wise, history, wise_weights, wise_slots = one_step(
        kdkeras.WiseStudentDistiller, x, y, correct_teacher, make(), step2_forward=forward
    )
    assert history.history["step2_examples"] == [0.0] and history.history["step2_images"] == [0.0]
    assert_same(blkd_weights, wise_weights)
    assert_same(blkd_slots, wise_slots)


@pytest.mark.parametrize(
    "forward", ["batch", "misclassified", "misclassified_step1_statistics", "misclassified_own_statistics"]
)
@pytest.mark.parametrize("reduction", ["misclassified", "batch"])
def test_step_two_is_an_update_on_the_misclassified_examples_only(problem, reduction, forward):
    x, y = problem[0][:64], problem[1][:64]
    teacher_logits = 5.0 * np.eye(3, dtype="float32")[y]
    wrong = np.zeros(64, bool)
    wrong[::4] = True
    teacher_logits[wrong] = 5.0 * np.eye(3, dtype="float32")[(y[wrong] + 1) % 3]
    _, _, after_step1, _ = one_step(kdkeras.Distiller, x, y, teacher_logits, keras.optimizers.SGD(0.1))
    wise, history, after_step2, _ = one_step(
        kdkeras.WiseStudentDistiller,
        x,
        y,
        teacher_logits,
        keras.optimizers.SGD(0.1),
        beta=0.3,
        correction="swap",
        step2_reduction=reduction,
        step2_forward=forward,
    )
    assert history.history["step2_examples"] == [16.0]
    assert history.history["step2_images"] == [64.0 if forward == "batch" else 16.0]
    # Recompute step 2 independently: swap the teacher's logits, then one SGD
    # step on b CE + (1-b) T^2 KL over the misclassified examples alone.
    reference = tiny_model(2)
    reference.set_weights(after_step1)
    corrected = teacher_logits[wrong].copy()
    corrected[np.arange(16), y[wrong]], corrected[np.arange(16), (y[wrong] + 1) % 3] = 5.0, 0.0
    with tf.GradientTape() as tape:
        zs = reference(x[wrong])
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y[wrong], zs)
        kl = keras.losses.KLDivergence()(tf.nn.softmax(corrected / 2.0), tf.nn.softmax(zs / 2.0))
        loss = 0.3 * ce + 0.7 * 4.0 * kl
        if reduction == "batch":
            loss = loss * 16 / 64
    grads = tape.gradient(loss, reference.trainable_variables)
    for w1, g, w2 in zip(after_step1, grads, after_step2):
        np.testing.assert_allclose(w2, w1 - 0.1 * np.asarray(g), atol=2e-5)


def test_without_the_second_update_step_one_learns_from_the_corrected_labels(problem):
    # The ablation: one update per batch, BLKD's loss with the lifted soft labels of the teacher's errors.
    x, y = problem[0][:64], problem[1][:64]
    teacher_logits = np.random.default_rng(3).normal(size=(64, 3)).astype("float32") * 3.0
    wrong = np.argmax(teacher_logits, -1) != y
    assert 10 < wrong.sum() < 60
    wise, history, after, slots = one_step(
        kdkeras.WiseStudentDistiller, x, y, teacher_logits, keras.optimizers.SGD(0.1), margin=0.5, second_update=False
    )
    assert not any(name.startswith("step2") for name in history.history)
    assert int(wise.optimizer.iterations) == 1
    lifted = teacher_logits.copy()
    lifted[wrong, y[wrong]] = teacher_logits[wrong].max(-1) + 0.5
    reference = tiny_model(2)
    with tf.GradientTape() as tape:
        zs = reference(x)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, zs)
        kl = keras.losses.KLDivergence()(tf.nn.softmax(lifted / 2.0), tf.nn.softmax(zs / 2.0))
        loss = 0.5 * ce + 0.5 * 4.0 * kl
    grads = tape.gradient(loss, reference.trainable_variables)
    for w0, g, w1 in zip(weights_of(reference), grads, after):
        np.testing.assert_allclose(w1, w0 - 0.1 * np.asarray(g), atol=2e-5)


def test_iterations_count_batches_so_schedules_keep_pace(problem):
    x, y = problem
    teacher = tiny_model(1)  # untrained: it misclassifies most examples
    schedule = keras.optimizers.schedules.PolynomialDecay(0.1, decay_steps=12, end_learning_rate=0.0)
    distiller = kdkeras.WiseStudentDistiller(tiny_model(2), teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(schedule))
    history = distiller.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert min(history.history["step2_examples"]) > 0
    assert int(distiller.optimizer.iterations) == 12  # 2 epochs of 6 batches
    assert float(distiller.optimizer.learning_rate) == pytest.approx(0.0)


def test_step_two_changes_nothing_but_the_student(problem):
    x, y = problem
    teacher = tiny_model(1)
    before = weights_of(teacher)
    distiller = kdkeras.WiseStudentDistiller(tiny_model(2), teacher)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert history.history["step2_examples"][0] == float(np.sum(np.argmax(teacher(x), -1) != y))
    assert_same(before, weights_of(teacher))


def test_config_round_trip(problem, distiller_saving_test):
    distiller = kdkeras.WiseStudentDistiller(
        tiny_model(2),
        tiny_model(1),
        beta=0.2,
        correction="swap",
        margin=0.0,
        step2_reduction="batch",
        step2_forward="misclassified",
        step2_regularization="twice",
        second_update=False,
    )
    distiller.compile(optimizer="adam")
    restored = distiller_saving_test(distiller, *problem)
    assert (restored.beta, restored.correction, restored.margin, restored.step2_reduction) == (
        0.2,
        "swap",
        0.0,
        "batch",
    )
    assert (restored.step2_forward, restored.step2_regularization) == ("misclassified", "twice")
    assert restored.second_update is False


def test_defaults_are_the_errors_alone_with_their_own_statistics_regularised_once():
    distiller = kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1))
    assert (distiller.step2_forward, distiller.step2_regularization) == ("misclassified_own_statistics", "once")


def test_bad_arguments():
    with pytest.raises(ValueError, match="correction"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), correction="flip")
    with pytest.raises(ValueError, match="margin"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), margin=-1.0)
    with pytest.raises(ValueError, match="step2_reduction"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), step2_reduction="sum")
    with pytest.raises(ValueError, match="step2_forward"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), step2_forward="errors")
    with pytest.raises(ValueError, match="step2_regularization"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), step2_regularization="never")


@pytest.mark.parametrize("forward", ["batch", "misclassified"])
def test_trains_under_mixed_precision_with_loss_scaling(problem, forward):
    x, y = problem
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        distiller = kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), step2_forward=forward)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"])
        before = weights_of(distiller.student)
        history = distiller.fit(x, y, batch_size=64, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"][0]) and history.history["step2_examples"][0] > 0
    assert any(not np.array_equal(a, b) for a, b in zip(before, weights_of(distiller.student)))


def test_evaluation_reports_no_step_two_metrics(problem):
    x, y = problem
    distiller = kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1))
    distiller.compile(optimizer="sgd")
    trained = distiller.fit(x, y, batch_size=64, epochs=1, validation_data=(x, y), verbose=0).history
    assert {"step2_examples", "step2_images", "step2_loss"} <= set(trained)
    assert not any(key.startswith("val_step2") for key in trained)
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    assert {"loss", "student_loss", "distillation_loss"} <= set(logs) and not any("step2" in k for k in logs)
    values = distiller.evaluate(x, y, batch_size=64, verbose=0)
    assert values == [logs[name] for name in ("loss", "student_loss", "distillation_loss")]
    assert "step2_examples" in distiller.metrics_names  # outside evaluation, training's metrics


def bn_model(seed, synchronized=False, batch_norm=keras.layers.BatchNormalization):
    """A tiny Conv-BN-ReLU-Dense classifier of 4x4x2 images, to check what step 2 does to batch norm."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(4, 3, padding="same", name="conv"),
            batch_norm(momentum=0.8, synchronized=synchronized, name="bn"),
            keras.layers.ReLU(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="dense"),
        ],
        name=f"bn{seed}",
    )


def bn_problem(num=32, wrong_every=4):
    """Images, labels, and cached teacher logits that are wrong on every `wrong_every`-th example."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(num, 4, 4, 2)).astype("float32")
    y = rng.integers(0, 3, size=num).astype("int64")
    wrong = np.zeros(num, bool)
    if wrong_every:
        wrong[::wrong_every] = True
    given = np.where(wrong, (y + 1) % 3, y)
    return x, y, 5.0 * np.eye(3, dtype="float32")[given], wrong


def sgd_with_decay(mode, learning_rate, decay):
    """Plain SGD (no momentum) with weight decay in the named form."""
    if mode == "decoupled":
        return keras.optimizers.SGD(learning_rate, weight_decay=decay)
    return kdkeras.optimizers.L2SGD(learning_rate, momentum=0.0, l2=decay)


def moving_update(weights, x, old_mean, old_variance, momentum=0.8):
    """Batch norm's moving statistics after one training-mode forward of `x`, in numpy."""
    conv = bn_model(0)
    conv.set_weights(weights)
    features = np.asarray(conv.get_layer("conv")(x))
    mean, variance = features.mean(axis=(0, 1, 2)), features.var(axis=(0, 1, 2))
    return momentum * old_mean + (1 - momentum) * mean, momentum * old_variance + (1 - momentum) * variance


def sgd_step(weights, loss_of_logits, x, training, learning_rate, decay):
    """`w - lr * (grad + decay * w)` for the trainable weights of `bn_model` at `weights`; the rest unchanged."""
    model = bn_model(0)
    model.set_weights(weights)
    with tf.GradientTape() as tape:
        loss = loss_of_logits(model(x, training=training))
    grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))
    return [
        w - learning_rate * (np.asarray(grads[v.path]) + decay * w) if v.path in grads else w
        for v, w in zip(model.weights, weights)
    ]


def kl_at(temperature, teacher_logits, logits):
    return keras.losses.KLDivergence()(tf.nn.softmax(teacher_logits / temperature), tf.nn.softmax(logits / temperature))


FUSED = kdkeras.models.FusedBatchNormalization


@pytest.mark.parametrize(
    "forward, regularization, mode, reduction, batch_norm",
    [
        ("batch", "once", "decoupled", "misclassified", keras.layers.BatchNormalization),
        ("batch", "once", "l2", "misclassified", FUSED),
        ("batch", "twice", "decoupled", "misclassified", FUSED),
        ("batch", "twice", "l2", "batch", keras.layers.BatchNormalization),
        ("misclassified", "once", "decoupled", "misclassified", keras.layers.BatchNormalization),
        ("misclassified", "once", "l2", "batch", FUSED),
        ("misclassified", "twice", "decoupled", "batch", keras.layers.BatchNormalization),
        ("misclassified", "twice", "l2", "misclassified", keras.layers.BatchNormalization),
        ("misclassified_step1_statistics", "once", "l2", "misclassified", FUSED),
        ("misclassified_step1_statistics", "twice", "decoupled", "batch", keras.layers.BatchNormalization),
        ("misclassified_own_statistics", "once", "decoupled", "misclassified", FUSED),
        ("misclassified_own_statistics", "twice", "l2", "batch", keras.layers.BatchNormalization),
    ],
)
def test_one_batch_with_batch_norm_against_a_hand_computation(forward, regularization, mode, reduction, batch_norm):
    # The expected values come from Keras's own batch norm and numpy; the student may use kdkeras's fused one.
    x, y, teacher_logits, wrong = bn_problem()
    lr, decay, temperature, alpha, beta = 0.1, 0.2, 2.0, 0.5, 0.3
    student = bn_model(0, batch_norm=batch_norm)
    start = [np.array(w) for w in student.weights]
    distiller = kdkeras.WiseStudentDistiller(
        student,
        bn_model(1),
        temperature=temperature,
        alpha=alpha,
        beta=beta,
        correction="swap",
        step2_forward=forward,
        step2_regularization=regularization,
        step2_reduction=reduction,
    )
    distiller.compile(optimizer=sgd_with_decay(mode, lr, decay))
    history = distiller.fit({"images": x, "teacher_logits": teacher_logits}, y, batch_size=len(x), verbose=0)

    # Step 1: BLKD on the whole batch in training mode, one decay, one move of the statistics.
    def step1_loss(zs):
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, zs)
        return (1 - alpha) * ce + alpha * temperature**2 * kl_at(temperature, teacher_logits, zs)

    after1 = sgd_step(start, step1_loss, x, True, lr, decay)
    after1[4:6] = moving_update(start, x, start[4], start[5])
    # Step 2: the swapped soft labels of the errors; decay again only with "twice".
    corrected = teacher_logits.copy()
    corrected[wrong] = 5.0 * np.eye(3, dtype="float32")[y[wrong]]
    errors = int(wrong.sum())
    scale = 1.0 if reduction == "misclassified" else errors / len(x)

    def step2_loss(zs):
        if forward == "batch":
            zs = tf.boolean_mask(zs, wrong)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y[wrong], zs)
        kd = temperature**2 * kl_at(temperature, corrected[wrong], zs)
        return scale * (beta * ce + (1 - beta) * kd)

    step2_decay = decay if regularization == "twice" else 0.0
    step2_images = x if forward == "batch" else x[wrong]
    step2_start = list(after1)
    if forward == "misclassified_step1_statistics":  # normalised as step 1 normalised them: its batch's moments
        step2_start[4:6] = moving_update(start, x, 0.0, 0.0, momentum=0.0)
    own = forward == "misclassified_own_statistics"  # training mode: the errors' own batch statistics
    expected = sgd_step(step2_start, step2_loss, step2_images, forward == "batch" or own, lr, step2_decay)
    expected[4:6] = after1[4:6]
    if forward == "batch" and regularization == "twice":
        expected[4:6] = moving_update(after1, x, after1[4], after1[5])

    for path, got, want in zip([v.path for v in student.weights], weights_of(student), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=path)
    if regularization == "once":
        np.testing.assert_allclose(weights_of(student)[4:6], after1[4:6], rtol=1e-6, atol=1e-7)
    assert history.history["step2_examples"] == [float(errors)]
    assert history.history["step2_images"] == [float(len(step2_images))]
    assert int(distiller.optimizer.iterations) == 1
    assert distiller.optimizer.weight_decay == (decay if mode == "decoupled" else None)  # restored after tracing


def two_replica_report():
    """Trains WSKD with a batch-norm student for one epoch on 1 and on 2 replicas; prints the differences.

    Run in a process with two logical CPUs (`test_two_replicas_update_as_one`). The epoch's second
    batch has errors on the first replica's half only, the third none. Synchronised batch norm
    normalises a training-mode forward (step 1, and step 2 with the batch forward) over the global
    batch, so one and two replicas make the same updates. Step 2 forwarding the errors in training
    mode (`misclassified_own_statistics`) normalises them over every replica's errors; a replica
    without any forwards a placeholder example (at weight 0) that joins those statistics, so that
    forward is checked on batches whose errors fall on both halves.
    """
    import json

    x, y, _, wrong = bn_problem(num=96, wrong_every=0)
    wrong[[0, 5, 17, 30, 33, 40]] = True  # batch 1: both halves; batch 2: the first half only
    both_halves = wrong.copy()
    both_halves[50] = True  # batch 2: both halves too

    def dataset(errors):
        teacher_logits = 5.0 * np.eye(3, dtype="float32")[np.where(errors, (y + 1) % 3, y)]
        return tf.data.Dataset.from_tensor_slices(({"images": x, "teacher_logits": teacher_logits}, y)).batch(32)

    report = {}
    mirrored = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])  # one per process: they share collective keys
    for forward in ("misclassified", "misclassified_own_statistics", "batch"):
        data = dataset(both_halves if forward == "misclassified_own_statistics" else wrong)
        results = []
        for strategy in (tf.distribute.get_strategy(), mirrored):
            with strategy.scope():
                student = bn_model(0, synchronized=True)
                distiller = kdkeras.WiseStudentDistiller(
                    student, bn_model(1), temperature=2.0, alpha=0.7, beta=0.4, step2_forward=forward
                )
                distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.05))
            history = distiller.fit(data, epochs=1, verbose=0).history
            results.append((weights_of(student), history, strategy.num_replicas_in_sync))
        (single, single_history, _), (multi, multi_history, replicas) = results
        report[forward] = {
            "replicas": replicas,
            "max_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi)),
            "finite": bool(all(np.all(np.isfinite(w)) for w in multi)),
            "step2_images": [single_history["step2_images"], multi_history["step2_images"]],
            "step2_examples": [single_history["step2_examples"], multi_history["step2_examples"]],
        }
    print(json.dumps(report))


TWO_LOGICAL_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kdkeras.distillers import wise_student_distiller_test
wise_student_distiller_test.two_replica_report()
"""


def test_two_replicas_update_as_one_even_when_a_replica_has_no_error():
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    result = subprocess.run(
        [sys.executable, "-c", TWO_LOGICAL_CPUS], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for forward, facts in report.items():
        assert facts["replicas"] == 2 and facts["finite"], (forward, facts)
        assert facts["max_weight_difference"] < 1e-5, (forward, facts)
    own = report.pop("misclassified_own_statistics")
    assert own["step2_examples"] == own["step2_images"] == [[7.0], [7.0]]
    for forward, facts in report.items():
        assert facts["step2_examples"] == [[6.0], [6.0]]
    assert report["misclassified"]["step2_images"] == [[6.0], [6.0]]
    assert report["batch"]["step2_images"] == [[64.0], [64.0]]  # two batches of 32 had an error
