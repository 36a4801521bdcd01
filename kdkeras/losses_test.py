import numpy as np
import pytest
import tensorflow as tf

from kdkeras import losses


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def hand_kd(teacher, student, temperature):
    """T^2 * KL(p_t^T || p_s^T), written out from the definition."""
    p = softmax(teacher / temperature)
    q = softmax(student / temperature)
    return temperature**2 * np.sum(p * np.log(p / q), axis=-1)


def hand_ce(labels, logits):
    return -np.log(softmax(logits)[np.arange(len(labels)), labels])


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(6, 5)).astype("float32") * 3
    student = rng.normal(size=(6, 5)).astype("float32") * 3
    labels = np.array([0, 1, 2, 3, 4, 0])
    return teacher, student, labels


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 10.0])
def test_kd_divergence_matches_hand_computation_with_t_squared(logits, temperature):
    teacher, student, _ = logits
    got = losses.kd_divergence_per_example(teacher, student, temperature).numpy()
    np.testing.assert_allclose(
        got, hand_kd(teacher.astype("float64"), student.astype("float64"), temperature), rtol=1e-4, atol=1e-6
    )


def test_kd_divergence_is_zero_for_identical_logits(logits):
    teacher, _, _ = logits
    np.testing.assert_allclose(losses.kd_divergence_per_example(teacher, teacher, 3.0).numpy(), 0.0, atol=1e-5)


def test_kd_loss_weights_kd_term_by_alpha(logits):
    teacher, student, labels = logits
    total, ce, kd = losses.kd_loss_per_example(labels, student, teacher, 4.0, 0.9)
    expected = 0.1 * hand_ce(labels, student.astype("float64")) + 0.9 * hand_kd(
        teacher.astype("float64"), student.astype("float64"), 4.0
    )
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(ce.numpy(), hand_ce(labels, student.astype("float64")), rtol=1e-4)


def test_growing_student_loss_adds_gamma_weighted_kl_to_previous(logits):
    teacher, student, labels = logits
    previous = teacher[::-1].copy()
    total, _, _, kd_previous = losses.growing_student_loss_per_example(
        labels, student, teacher, previous, 2.0, 0.7, 0.5
    )
    t, s, p = (a.astype("float64") for a in (teacher, student, previous))
    expected = 0.3 * hand_ce(labels, s) + 0.7 * hand_kd(t, s, 2.0) + 0.5 * hand_kd(p, s, 2.0)
    np.testing.assert_allclose(total.numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(kd_previous.numpy(), hand_kd(p, s, 2.0), rtol=1e-4)


@pytest.mark.parametrize("correction", ["lift", "swap"])
def test_correction_puts_argmax_at_true_class_and_leaves_correct_rows(logits, correction):
    teacher, _, labels = logits
    wrong = teacher.argmax(-1) != labels
    assert wrong.any() and (~wrong).any()
    corrected = losses.correct_soft_labels(teacher, labels, correction, margin=0.5).numpy()
    np.testing.assert_array_equal(corrected.argmax(-1), labels)
    np.testing.assert_array_equal(corrected[~wrong], teacher[~wrong])


def test_lift_preserves_every_ratio_among_other_classes(logits):
    teacher, _, labels = logits
    p = softmax(teacher.astype("float64"))
    corrected = softmax(losses.lift_true_class(teacher, labels, margin=1.0).numpy().astype("float64"))
    for row, label in enumerate(labels):
        others = [k for k in range(teacher.shape[1]) if k != label]
        ratio_before = p[row, others][:, None] / p[row, others][None, :]
        ratio_after = corrected[row, others][:, None] / corrected[row, others][None, :]
        np.testing.assert_allclose(ratio_after, ratio_before, rtol=1e-5)
    wrong = teacher.argmax(-1) != labels
    lifted = losses.lift_true_class(teacher, labels, margin=1.0).numpy()
    np.testing.assert_allclose(lifted[wrong, labels[wrong]], teacher[wrong].max(-1) + 1.0, rtol=1e-6)


def test_swap_exchanges_true_and_top_values(logits):
    teacher, _, labels = logits
    swapped = losses.swap_true_class(teacher, labels).numpy()
    for row, label in enumerate(labels):
        top = teacher[row].argmax()
        if top == label:
            continue
        expected = teacher[row].copy()
        expected[top], expected[label] = teacher[row, label], teacher[row, top]
        np.testing.assert_array_equal(swapped[row], expected)


def test_unknown_correction_is_an_error(logits):
    teacher, _, labels = logits
    with pytest.raises(ValueError, match="correction"):
        losses.correct_soft_labels(teacher, labels, "flip")


def test_virtual_teacher_distribution():
    labels = np.array([2, 0])
    probs = tf.nn.softmax(losses.virtual_teacher_logits(labels, 4, 0.9)).numpy()
    np.testing.assert_allclose(probs[0], [0.1 / 3, 0.1 / 3, 0.9, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(probs[1], [0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3], rtol=1e-6)
    softened = tf.nn.softmax(losses.virtual_teacher_logits(labels, 4, 0.9) / 4.0).numpy()
    expected = np.array([0.1 / 3, 0.1 / 3, 0.9, 0.1 / 3]) ** 0.25
    np.testing.assert_allclose(softened[0], expected / expected.sum(), rtol=1e-5)


def test_global_mean_over_a_mask_and_empty_mask():
    values = tf.constant([1.0, 2.0, 3.0, 6.0])
    assert float(losses.global_mean(values)) == pytest.approx(3.0)
    assert float(losses.global_mean(values, mask=[True, False, False, True])) == pytest.approx(3.5)
    assert float(losses.global_mean(values, mask=[False] * 4)) == 0.0
