import keras
import numpy as np
import pytest

import kdkeras
from kdkeras.distillers.conftest import assert_same, tiny_model, weights_of


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def kl_t2(p_logits, q_logits, t):
    p, q = softmax(p_logits / t), softmax(q_logits / t)
    return t * t * np.sum(p * np.log(p / q), -1)


def test_stage_loss_has_both_kl_terms(problem):
    x, y = problem[0][:64], problem[1][:64]
    teacher, previous, student = tiny_model(1), tiny_model(3), tiny_model(2)
    stage = kdkeras.GrowingStudentDistiller(student, teacher, previous, temperature=2.0, alpha=0.6, gamma=0.4)
    stage.compile(optimizer="sgd")
    logs = stage.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt, zp, zs = (np.asarray(m(x)).astype("float64") for m in (teacher, previous, student))
    ce = -np.log(softmax(zs)[np.arange(64), y])
    expected = np.mean(0.4 * ce + 0.6 * kl_t2(zt, zs, 2.0) + 0.4 * kl_t2(zp, zs, 2.0))
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)
    np.testing.assert_allclose(logs["previous_distillation_loss"], np.mean(kl_t2(zp, zs, 2.0)), rtol=1e-4)


def test_gamma_zero_is_baseline_kd(problem):
    x, y = problem
    results = []
    for make in (
        lambda s, t: kdkeras.Distiller(s, t, temperature=2.0, alpha=0.5),
        lambda s, t: kdkeras.GrowingStudentDistiller(s, t, tiny_model(3), temperature=2.0, alpha=0.5, gamma=0.0),
    ):
        distiller = make(tiny_model(2), tiny_model(1))
        distiller.compile(optimizer=keras.optimizers.SGD(0.1))
        distiller.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        results.append(weights_of(distiller.student))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_earlier_stage_and_teacher_are_frozen(problem):
    x, y = problem
    teacher, previous = tiny_model(1), tiny_model(3)
    frozen = weights_of(teacher), weights_of(previous)
    stage = kdkeras.GrowingStudentDistiller(tiny_model(2), teacher, previous)
    stage.compile(optimizer="adam", metrics=["accuracy"])
    stage.fit(x, y, epochs=2, verbose=0)
    assert_same(frozen[0], weights_of(teacher))
    assert_same(frozen[1], weights_of(previous))
    assert not previous.trainable


def test_config_round_trip(problem, distiller_saving_test):
    stage = kdkeras.GrowingStudentDistiller(tiny_model(2), tiny_model(1), tiny_model(3), gamma=0.7)
    stage.compile(optimizer="adam")
    restored = distiller_saving_test(stage, *problem)
    assert restored.gamma == 0.7 and restored.previous_student.name == "tiny3"


def test_negative_gamma_is_rejected():
    with pytest.raises(ValueError, match="gamma"):
        kdkeras.GrowingStudentDistiller(tiny_model(2), tiny_model(1), tiny_model(3), gamma=-0.1)


def z_score(logits):
    centred = logits - logits.mean(-1, keepdims=True)
    return centred / (logits.std(-1, ddof=1, keepdims=True) + 1e-7)


def test_logit_standardization_reaches_both_kl_terms(problem):
    x, y = problem[0][:64], problem[1][:64]
    teacher, previous, student = tiny_model(1), tiny_model(3), tiny_model(2)
    stage = kdkeras.GrowingStudentDistiller(
        student, teacher, previous, temperature=2.0, alpha=0.6, gamma=0.4, logit_standardization=True
    )
    stage.compile(optimizer="sgd")
    logs = stage.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt, zp, zs = (np.asarray(m(x)).astype("float64") for m in (teacher, previous, student))
    ce = -np.log(softmax(zs)[np.arange(64), y])
    kd_teacher, kd_previous = kl_t2(z_score(zt), z_score(zs), 2.0), kl_t2(z_score(zp), z_score(zs), 2.0)
    np.testing.assert_allclose(logs["loss"], np.mean(0.4 * ce + 0.6 * kd_teacher + 0.4 * kd_previous), rtol=1e-4)
    np.testing.assert_allclose(logs["previous_distillation_loss"], np.mean(kd_previous), rtol=1e-4)
    assert stage.get_config()["logit_standardization"] is True
