import keras
import numpy as np
import pytest

import kdkeras
from kdkeras.distillers.conftest import tiny_model


def test_loss_uses_the_virtual_teacher_distribution(problem):
    x, y = problem[0][:64], problem[1][:64]
    student = tiny_model(2)
    distiller = kdkeras.VirtualTeacherDistiller(student, correct_prob=0.95, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    p_v = np.where(np.eye(3)[y] > 0, 0.95, 0.025)
    p_vt = p_v**0.5 / np.sum(p_v**0.5, -1, keepdims=True)
    zs = np.asarray(student(x)).astype("float64") / 2.0
    q = np.exp(zs - zs.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    kd = 4.0 * np.sum(p_vt * np.log(p_vt / q), -1)
    np.testing.assert_allclose(logs["distillation_loss"], np.mean(kd), rtol=1e-4)


def test_trains_without_a_teacher_network(problem, distiller_saving_test):
    x, y = problem
    distiller = kdkeras.VirtualTeacherDistiller(tiny_model(2))
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"])
    history = distiller.fit(x, y, epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.8
    assert distiller.teacher.weights == []
    assert distiller_saving_test(distiller, *problem).correct_prob == 0.9


def test_correct_prob_below_point_nine_is_rejected():
    with pytest.raises(ValueError, match="correct_prob"):
        kdkeras.VirtualTeacherDistiller(tiny_model(2), correct_prob=0.5)


def test_a_teacher_that_is_not_its_own_virtual_teacher_is_rejected():
    student = tiny_model(2)
    with pytest.raises(ValueError, match="VirtualTeacher"):
        kdkeras.VirtualTeacherDistiller(student, correct_prob=0.95, teacher=kdkeras.VirtualTeacher(3, 0.9))
    with pytest.raises(ValueError, match="VirtualTeacher"):
        kdkeras.VirtualTeacherDistiller(student, teacher=tiny_model(1))
    same = kdkeras.VirtualTeacher(3, 0.95)
    assert kdkeras.VirtualTeacherDistiller(student, correct_prob=0.95, teacher=same).teacher is same
    with pytest.raises(ValueError, match="student must be a keras.Model"):
        kdkeras.VirtualTeacherDistiller("student")
