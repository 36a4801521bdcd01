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


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_batch_without_teacher_errors_is_exactly_step_one(problem, optimizer):
    x, y = problem[0][:64], problem[1][:64]
    correct_teacher = 5.0 * np.eye(3, dtype="float32")[y]

    def make():
        return keras.optimizers.SGD(0.1, momentum=0.9) if optimizer == "sgd_momentum" else keras.optimizers.Adam(0.01)

    _, _, blkd_weights, blkd_slots = one_step(kdkeras.Distiller, x, y, correct_teacher, make())
    wise, history, wise_weights, wise_slots = one_step(kdkeras.WiseStudentDistiller, x, y, correct_teacher, make())
    assert history.history["step2_examples"] == [0.0]
    assert_same(blkd_weights, wise_weights)
    assert_same(blkd_slots, wise_slots)


@pytest.mark.parametrize("reduction", ["misclassified", "batch"])
def test_step_two_is_an_update_on_the_misclassified_examples_only(problem, reduction):
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
    )
    assert history.history["step2_examples"] == [16.0]
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
    assert restored.second_update is False


def test_bad_arguments():
    with pytest.raises(ValueError, match="correction"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), correction="flip")
    with pytest.raises(ValueError, match="margin"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), margin=-1.0)
    with pytest.raises(ValueError, match="step2_reduction"):
        kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1), step2_reduction="sum")


def test_trains_under_mixed_precision_with_loss_scaling(problem):
    x, y = problem
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        distiller = kdkeras.WiseStudentDistiller(tiny_model(2), tiny_model(1))
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
    assert "step2_examples" in trained and "step2_loss" in trained
    assert not any(key.startswith("val_step2") for key in trained)
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    assert {"loss", "student_loss", "distillation_loss"} <= set(logs) and not any("step2" in k for k in logs)
    values = distiller.evaluate(x, y, batch_size=64, verbose=0)
    assert values == [logs[name] for name in ("loss", "student_loss", "distillation_loss")]
    assert "step2_examples" in distiller.metrics_names  # outside evaluation, training's metrics
