import keras
import numpy as np
import pytest
import tensorflow as tf

import kdkeras
from kdkeras.distillers.conftest import tiny_model, weights_of


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def pearson(a, b):
    """Row-wise Pearson correlation, written out."""
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def hand_relations(student, teacher, tau):
    p_s, p_t = softmax(student / tau), softmax(teacher / tau)
    inter = tau**2 * (1 - pearson(p_s, p_t))
    intra = tau**2 * np.mean(1 - pearson(p_s.T, p_t.T))
    return inter, intra


def test_loss_is_ce_plus_weighted_relations(problem):
    x, y = problem[0][:64], problem[1][:64]
    teacher, student = tiny_model(1), tiny_model(2)
    distiller = kdkeras.CorrelationDistiller(
        student, teacher, tau=2.0, inter_weight=1.5, intra_weight=3.0, ce_weight=0.5
    )
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt, zs = (np.asarray(m(x)).astype("float64") for m in (teacher, student))
    inter, intra = hand_relations(zs, zt, 2.0)
    ce = -np.log(softmax(zs)[np.arange(64), y])
    relations = 1.5 * np.mean(inter) + 3.0 * intra
    np.testing.assert_allclose(logs["loss"], np.mean(0.5 * ce) + relations, rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], np.mean(ce), rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], relations, rtol=1e-4)
    np.testing.assert_allclose(logs["inter_loss"], np.mean(inter), rtol=1e-4)
    np.testing.assert_allclose(logs["intra_loss"], intra, rtol=1e-4)


def test_sgd_step_follows_the_gradient_of_the_batch_loss(problem):
    """The intra relation is given to every example; the update is still that of the batch's loss."""
    x, y = problem[0][:32], problem[1][:32]
    teacher, student, reference = tiny_model(1), tiny_model(2), tiny_model(2)
    distiller = kdkeras.CorrelationDistiller(student, teacher, tau=2.0, inter_weight=2.0, intra_weight=3.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5))
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)

    def correlation(a, b, axis):
        a = a - tf.reduce_mean(a, axis, keepdims=True)
        b = b - tf.reduce_mean(b, axis, keepdims=True)
        return tf.reduce_sum(a * b, axis) / tf.sqrt(tf.reduce_sum(a * a, axis) * tf.reduce_sum(b * b, axis))

    with tf.GradientTape() as tape:
        zs = reference(x)
        p_s, p_t = tf.nn.softmax(zs / 2.0), tf.nn.softmax(teacher(x) / 2.0)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, zs)
        inter = 4.0 * tf.reduce_mean(1 - correlation(p_s, p_t, 1))
        intra = 4.0 * tf.reduce_mean(1 - correlation(p_s, p_t, 0))
        loss = ce + 2.0 * inter + 3.0 * intra
    grads = tape.gradient(loss, reference.trainable_variables)
    for variable, grad, updated in zip(reference.trainable_variables, grads, student.trainable_variables):
        np.testing.assert_allclose(np.asarray(updated), np.asarray(variable) - 0.5 * np.asarray(grad), atol=2e-5)


def test_learns_and_cached_teacher_logits_give_the_same_update(problem):
    x, y = problem
    teacher = tiny_model(1)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=20, verbose=0)
    results = []
    for inputs in (x, {"images": x, "teacher_logits": np.asarray(teacher(x))}):
        distiller = kdkeras.CorrelationDistiller(tiny_model(2), teacher)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
        history = distiller.fit(inputs, y, batch_size=32, epochs=4, verbose=0, shuffle=False)
        results.append(weights_of(distiller.student))
    assert history.history["accuracy"][-1] > 0.8  # chance is 1/3
    assert {"loss", "student_loss", "distillation_loss", "inter_loss", "intra_loss"} <= set(history.history)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_batches_of_one_train_without_nan(problem):
    x, y = problem[0][:8], problem[1][:8]
    distiller = kdkeras.CorrelationDistiller(tiny_model(2), tiny_model(1), tau=4.0, intra_weight=2.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    history = distiller.fit(x, y, batch_size=1, epochs=1, verbose=0)
    assert history.history["intra_loss"] == pytest.approx([16.0])
    assert all(np.all(np.isfinite(w)) for w in weights_of(distiller.student))


def test_saving(problem, distiller_saving_test):
    distiller = kdkeras.CorrelationDistiller(
        tiny_model(2),
        tiny_model(1),
        tau=3.0,
        inter_weight=1.0,
        intra_weight=0.5,
        ce_weight=0.8,
        logit_standardization=True,
    )
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    restored = distiller_saving_test(distiller, *problem)
    assert (restored.tau, restored.inter_weight, restored.intra_weight, restored.ce_weight) == (3.0, 1.0, 0.5, 0.8)
    assert restored.logit_standardization
    assert "alpha" not in restored.get_config() and "temperature" not in restored.get_config()


def test_invalid_arguments_are_rejected():
    for bad in ({"tau": 0.0}, {"inter_weight": -1.0}, {"intra_weight": -1.0}, {"ce_weight": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            kdkeras.CorrelationDistiller(tiny_model(2), tiny_model(1), **bad)
