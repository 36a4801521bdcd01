import numpy as np
import pytest

import kdkeras


def test_logits_are_the_log_of_the_virtual_distribution():
    teacher = kdkeras.VirtualTeacher(num_classes=4, correct_prob=0.94)
    logits = np.asarray(teacher(np.array([2, 0])))
    expected = np.log([[0.02, 0.02, 0.94, 0.02], [0.94, 0.02, 0.02, 0.02]])
    np.testing.assert_allclose(logits, expected, rtol=1e-6)
    assert teacher.weights == []


def test_softening_at_temperature_four_gives_the_true_class_a_quarter():
    # 0.9 on the true class, 0.1 / 9 on each of the others: (0.9 / (0.1 / 9)) ** (1 / 4) = 3, and 3 / (3 + 9).
    logits = np.asarray(kdkeras.VirtualTeacher(10, 0.9)(np.array([5]))) / 4.0
    softened = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(softened[0, 5], 0.25, rtol=1e-6)


@pytest.mark.parametrize("num_classes, correct_prob", [(10, 0.5), (10, 1.0), (1, 0.9)])
def test_rejects_what_the_method_does_not_define(num_classes, correct_prob):
    with pytest.raises(ValueError, match="num_classes" if num_classes < 2 else "correct_prob"):
        kdkeras.VirtualTeacher(num_classes, correct_prob)


def test_config_round_trip():
    teacher = kdkeras.VirtualTeacher(7, 0.95, name="v")
    again = kdkeras.VirtualTeacher.from_config(teacher.get_config())
    assert (again.num_classes, again.correct_prob, again.name) == (7, 0.95, "v")
