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


def hand_standardize(logits):
    """Z-score with the sample standard deviation and 1e-7 added, as Sun et al.'s `normalize`."""
    centred = logits - logits.mean(-1, keepdims=True)
    return centred / (logits.std(-1, ddof=1, keepdims=True) + 1e-7)


def test_standardize_logits_gives_zero_mean_unit_sample_std(logits):
    teacher, _, _ = logits
    got = losses.standardize_logits(teacher).numpy()
    np.testing.assert_allclose(got, hand_standardize(teacher.astype("float64")), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(got.std(-1, ddof=1), 1.0, rtol=1e-5)


def test_standardize_equal_logits_gives_zeros_and_finite_gradient():
    equal = tf.constant([[3.0, 3.0, 3.0, 3.0], [-1.0, -1.0, -1.0, -1.0]])
    with tf.GradientTape() as tape:
        tape.watch(equal)
        standardized = losses.standardize_logits(equal)
        loss = losses.kd_divergence_per_example(tf.constant([[1.0, 2.0, 0.0, 0.0]] * 2), equal, 2.0, standardize=True)
    np.testing.assert_array_equal(standardized.numpy(), 0.0)
    assert np.all(np.isfinite(loss.numpy()))
    assert np.all(np.isfinite(tape.gradient(loss, equal).numpy()))


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_standardized_kd_is_kd_of_z_scored_logits(logits, temperature):
    teacher, student, labels = logits
    t, s = hand_standardize(teacher.astype("float64")), hand_standardize(student.astype("float64"))
    got = losses.kd_divergence_per_example(teacher, student, temperature, standardize=True).numpy()
    np.testing.assert_allclose(got, hand_kd(t, s, temperature), rtol=1e-4, atol=1e-6)
    total, ce, _ = losses.kd_loss_per_example(labels, student, teacher, temperature, 0.9, standardize=True)
    np.testing.assert_allclose(ce.numpy(), hand_ce(labels, student.astype("float64")), rtol=1e-4)
    np.testing.assert_allclose(
        total.numpy(), 0.1 * hand_ce(labels, student.astype("float64")) + 0.9 * hand_kd(t, s, temperature), rtol=1e-4
    )


def test_standardization_ignores_scale_and_shift_of_the_logits(logits):
    """The defining property: a student whose logits are an affine image of the teacher's has nothing to learn."""
    teacher, _, _ = logits
    student = 0.3 * teacher - 2.0
    with_ls = losses.kd_divergence_per_example(teacher, student, 2.0, standardize=True).numpy()
    without = losses.kd_divergence_per_example(teacher, student, 2.0).numpy()
    np.testing.assert_allclose(with_ls, 0.0, atol=1e-5)
    assert np.all(without > 1e-2)


def test_standardize_passes_through_gskd_and_wskd_step2(logits):
    teacher, student, labels = logits
    previous = teacher[::-1].copy()
    t, s, p = (hand_standardize(a.astype("float64")) for a in (teacher, student, previous))
    total, _, _, kd_previous = losses.growing_student_loss_per_example(
        labels, student, teacher, previous, 2.0, 0.7, 0.5, standardize=True
    )
    ce = hand_ce(labels, student.astype("float64"))
    np.testing.assert_allclose(total.numpy(), 0.3 * ce + 0.7 * hand_kd(t, s, 2.0) + 0.5 * hand_kd(p, s, 2.0), rtol=1e-4)
    np.testing.assert_allclose(kd_previous.numpy(), hand_kd(p, s, 2.0), rtol=1e-4)
    step2 = losses.wise_student_step2_per_example(labels, student, teacher, 2.0, 0.4, standardize=True).numpy()
    np.testing.assert_allclose(step2, 0.4 * ce + 0.6 * hand_kd(t, s, 2.0), rtol=1e-4)


def hand_dkd(labels, student, teacher, temperature):
    """TCKD and NCKD from the definitions of Zhao et al. 2022, in float64, each times T^2."""
    p_t, p_s = softmax(teacher / temperature), softmax(student / temperature)
    rows = np.arange(len(labels))
    other = np.ones_like(p_t, dtype=bool)
    other[rows, labels] = False
    b_t = np.stack([p_t[rows, labels], np.where(other, p_t, 0).sum(-1)], -1)
    b_s = np.stack([p_s[rows, labels], np.where(other, p_s, 0).sum(-1)], -1)
    tckd = np.sum(b_t * np.log(b_t / b_s), -1)
    nckd = np.zeros(len(labels))
    for row in rows:
        q_t = p_t[row, other[row]] / b_t[row, 1]
        q_s = p_s[row, other[row]] / b_s[row, 1]
        nckd[row] = np.sum(q_t * np.log(q_t / q_s))
    return temperature**2 * tckd, temperature**2 * nckd


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_decoupled_kd_matches_the_definitions(logits, temperature):
    teacher, student, labels = logits
    total, tckd, nckd = losses.decoupled_kd_per_example(labels, student, teacher, temperature, 1.0, 8.0)
    want_tckd, want_nckd = hand_dkd(labels, student.astype("float64"), teacher.astype("float64"), temperature)
    np.testing.assert_allclose(tckd.numpy(), want_tckd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nckd.numpy(), want_nckd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(total.numpy(), want_tckd + 8.0 * want_nckd, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_decoupled_kd_decomposition_identity(logits, temperature):
    """Zhao et al.'s Eq. (1): KD = TCKD + (1 - p_t^T(y)) NCKD, both sides times T^2."""
    teacher, student, labels = logits
    _, tckd, nckd = losses.decoupled_kd_per_example(labels, student, teacher, temperature, 1.0, 1.0)
    kd = losses.kd_divergence_per_example(teacher, student, temperature).numpy()
    p_target = softmax(teacher.astype("float64") / temperature)[np.arange(len(labels)), labels]
    np.testing.assert_allclose(tckd.numpy() + (1 - p_target) * nckd.numpy(), kd, rtol=1e-4, atol=1e-6)


def test_decoupled_kd_with_one_class_dominant_is_finite_and_right():
    labels = np.array([0, 1, 2])
    teacher = np.array([[40.0, 0.0, 1.0, -2.0], [40.0, 0.0, 1.0, -2.0], [0.5, 0.2, 60.0, 0.1]], "float32")
    student = np.array([[0.3, -0.2, 0.1, 0.0], [20.0, 1.0, 0.0, 0.5], [1.0, 2.0, 3.0, -1.0]], "float32")
    with tf.GradientTape() as tape:
        student_variable = tf.constant(student)
        tape.watch(student_variable)
        total, tckd, nckd = losses.decoupled_kd_per_example(labels, student_variable, teacher, 1.0, 1.0, 8.0)
    assert np.all(np.isfinite(tape.gradient(total, student_variable).numpy()))
    want_tckd, want_nckd = hand_dkd(labels, student.astype("float64"), teacher.astype("float64"), 1.0)
    np.testing.assert_allclose(tckd.numpy(), want_tckd, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(nckd.numpy(), want_nckd, rtol=1e-4, atol=1e-5)


def test_decoupled_kd_standardized_is_dkd_of_z_scored_logits(logits):
    teacher, student, labels = logits
    t, s = hand_standardize(teacher.astype("float64")), hand_standardize(student.astype("float64"))
    _, tckd, nckd = losses.decoupled_kd_per_example(labels, student, teacher, 2.0, 1.0, 8.0, standardize=True)
    want_tckd, want_nckd = hand_dkd(labels, s, t, 2.0)
    np.testing.assert_allclose(tckd.numpy(), want_tckd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nckd.numpy(), want_nckd, rtol=1e-4, atol=1e-6)


def hand_pearson(a, b):
    """Pearson correlation of two vectors, 0 when either is constant (as the DIST code's eps'd cosine)."""
    a, b = a - a.mean(), b - b.mean()
    norms = np.sqrt((a * a).sum()) * np.sqrt((b * b).sum())
    return (a * b).sum() / (norms + 1e-8)


def hand_dist(student, teacher, tau):
    """Huang et al.'s inter- and intra-class relations, each times tau^2."""
    p_s, p_t = softmax(student / tau), softmax(teacher / tau)
    inter = np.array([1 - hand_pearson(p_s[i], p_t[i]) for i in range(len(p_s))])
    intra = np.mean([1 - hand_pearson(p_s[:, c], p_t[:, c]) for c in range(p_s.shape[1])])
    return tau**2 * inter, tau**2 * intra


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_correlation_kd_matches_pearson_relations(logits, tau):
    teacher, student, _ = logits
    total, inter, intra = losses.correlation_kd_per_example(student, teacher, tau, 2.0, 3.0)
    want_inter, want_intra = hand_dist(student.astype("float64"), teacher.astype("float64"), tau)
    np.testing.assert_allclose(inter.numpy(), want_inter, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(intra.numpy(), np.full(len(teacher), want_intra), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(total.numpy(), 2.0 * want_inter + 3.0 * want_intra, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        np.corrcoef(softmax(student[0] / tau), softmax(teacher[0] / tau))[0, 1], 1 - want_inter[0] / tau**2, rtol=1e-5
    )


def test_correlation_kd_is_zero_for_an_affine_image_of_the_teacher_probabilities(logits):
    """The defining property: Pearson ignores scale and shift. A student whose probabilities are
    the teacher's mixed with the uniform distribution keeps every relation, though KL sees a gap."""
    teacher, _, _ = logits
    p_t = softmax(teacher.astype("float64"))
    student = np.log(0.5 * p_t + 0.5 / p_t.shape[1]).astype("float32")
    _, inter, intra = losses.correlation_kd_per_example(student, teacher, 1.0)
    np.testing.assert_allclose(inter.numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(intra.numpy(), 0.0, atol=1e-5)
    assert np.all(losses.kd_divergence_per_example(teacher, student, 1.0).numpy() > 1e-2)


def test_correlation_kd_one_class_dominant_and_batch_of_one():
    teacher = np.array([[50.0, 0.0, 0.0, 0.0], [0.0, 45.0, 1.0, 0.0], [1.0, 0.0, 2.0, 0.5]], "float32")
    student = np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 3.0, 0.0, 1.0], [0.1, 0.0, 0.4, 0.0]], "float32")
    _, inter, intra = losses.correlation_kd_per_example(student, teacher, 1.0)
    want_inter, want_intra = hand_dist(student.astype("float64"), teacher.astype("float64"), 1.0)
    np.testing.assert_allclose(inter.numpy(), want_inter, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(intra.numpy()[0], want_intra, rtol=1e-4, atol=1e-5)
    # A batch of one has no variation across examples: every class correlation is 0, so the
    # intra relation is the constant tau^2, with no gradient; the inter relation is unchanged.
    one_student = tf.constant(student[:1])
    with tf.GradientTape() as tape:
        tape.watch(one_student)
        _, inter_one, intra_one = losses.correlation_kd_per_example(one_student, teacher[:1], 4.0)
    np.testing.assert_allclose(intra_one.numpy(), [16.0], rtol=1e-6)
    np.testing.assert_array_equal(tape.gradient(intra_one, one_student).numpy(), 0.0)
    np.testing.assert_allclose(
        inter_one.numpy(), hand_dist(student[:1].astype("float64"), teacher[:1], 4.0)[0], rtol=1e-4
    )


def test_correlation_kd_standardized(logits):
    teacher, student, _ = logits
    t, s = hand_standardize(teacher.astype("float64")), hand_standardize(student.astype("float64"))
    _, inter, intra = losses.correlation_kd_per_example(student, teacher, 2.0, standardize=True)
    want_inter, want_intra = hand_dist(s, t, 2.0)
    np.testing.assert_allclose(inter.numpy(), want_inter, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(intra.numpy()[0], want_intra, rtol=1e-4, atol=1e-5)


def test_hint_is_the_mean_squared_difference_per_example():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(3, 4, 4, 5)).astype("float32")
    student = rng.normal(size=(3, 4, 4, 5)).astype("float32")
    got = losses.hint_per_example(teacher, student).numpy()
    np.testing.assert_allclose(got, ((student - teacher) ** 2).reshape(3, -1).mean(-1), rtol=1e-5)
    vectors = losses.hint_per_example(teacher[:, 0, 0], student[:, 0, 0]).numpy()
    np.testing.assert_allclose(vectors, ((student - teacher)[:, 0, 0] ** 2).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(losses.hint_per_example(teacher, teacher).numpy(), 0.0)
