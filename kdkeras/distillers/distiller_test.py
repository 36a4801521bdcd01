import keras
import numpy as np
import pytest
import tensorflow as tf

import kdkeras
from kdkeras.distillers.conftest import assert_same, tiny_model, weights_of


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_distiller_learns_and_leaves_teacher_unchanged(problem):
    x, y = problem
    teacher = tiny_model(1)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=30, verbose=0)
    before = weights_of(teacher)
    distiller = kdkeras.Distiller(tiny_model(2), teacher, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] > 0.8  # chance is 1/3
    assert {"loss", "student_loss", "distillation_loss", "accuracy"} <= set(history.history)
    assert_same(before, weights_of(teacher))
    assert not teacher.trainable


def test_loss_is_the_hand_computed_kd_loss(problem):
    x, y = problem
    teacher, student = tiny_model(1), tiny_model(2)
    distiller = kdkeras.Distiller(student, teacher, temperature=3.0, alpha=0.7)
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x[:64], y[:64], batch_size=64, return_dict=True, verbose=0)
    zt = np.asarray(teacher(x[:64])).astype("float64")
    zs = np.asarray(student(x[:64])).astype("float64")
    p, q = softmax(zt / 3.0), softmax(zs / 3.0)
    kd = 9.0 * np.sum(p * np.log(p / q), -1)
    ce = -np.log(softmax(zs)[np.arange(64), y[:64]])
    assert logs["loss"] == np.float32(logs["loss"])
    np.testing.assert_allclose(logs["loss"], np.mean(0.3 * ce + 0.7 * kd), rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], np.mean(kd), rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], np.mean(ce), rtol=1e-4)


def test_sgd_step_follows_gradient_of_the_batch_mean(problem):
    x, y = problem
    teacher, student = tiny_model(1), tiny_model(2)
    reference = tiny_model(2)
    distiller = kdkeras.Distiller(student, teacher, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    distiller.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0, shuffle=False)
    kl = keras.losses.KLDivergence()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        zs = reference(x[:32])
        zt = teacher(x[:32])
        loss = 0.5 * ce(y[:32], zs) + 0.5 * 4.0 * kl(tf.nn.softmax(zt / 2.0), tf.nn.softmax(zs / 2.0))
    grads = tape.gradient(loss, reference.trainable_variables)
    for variable, grad, updated in zip(reference.trainable_variables, grads, student.trainable_variables):
        np.testing.assert_allclose(np.asarray(updated), np.asarray(variable) - 0.1 * np.asarray(grad), atol=2e-5)


@pytest.mark.parametrize("make", [kdkeras.Distiller, kdkeras.WiseStudentDistiller, kdkeras.DecoupledDistiller])
def test_loss_weight_multiplies_the_loss_but_not_the_weight_decay(problem, make):
    """`loss_weight=k` with plain SGD at rate r is the update of `loss_weight=1` at rate k r (WSKD: both of its
    updates), the reported terms unchanged; with weight decay the two differ, since the decay is not scaled."""
    x, y = problem
    teacher = tiny_model(1)  # untrained: wrong on about 2/3 of the examples, so WSKD's step 2 runs on every batch
    runs = {}
    for weight, rate, decay in ((1.0, 0.2, None), (10.0, 0.02, None), (10.0, 0.02, 0.1)):
        distiller = make(tiny_model(2), teacher, loss_weight=weight)
        distiller.compile(optimizer=keras.optimizers.SGD(rate, weight_decay=decay))
        logs = distiller.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0, shuffle=False).history
        runs[weight, decay] = weights_of(distiller.student), logs
    (plain, plain_logs), (weighted, weighted_logs) = runs[1.0, None], runs[10.0, None]
    for a, b in zip(plain, weighted):
        np.testing.assert_allclose(a, b, atol=2e-5)
    np.testing.assert_allclose(weighted_logs["loss"][0], 10.0 * plain_logs["loss"][0], rtol=1e-4)
    for term in ("student_loss", "distillation_loss"):
        np.testing.assert_allclose(weighted_logs[term][0], plain_logs[term][0], rtol=1e-5)
    decayed, _ = runs[10.0, 0.1]
    assert max(np.abs(a - b).max() for a, b in zip(decayed, weighted)) > 1e-4


def test_precomputed_teacher_logits_give_the_same_update(problem):
    x, y = problem
    teacher = tiny_model(1)
    logits = np.asarray(teacher(x))
    results = []
    for inputs in (x, {"images": x, "teacher_logits": logits}):
        distiller = kdkeras.Distiller(tiny_model(2), teacher)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        distiller.fit(inputs, y, batch_size=64, epochs=2, verbose=0, shuffle=False)
        results.append(weights_of(distiller.student))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_alpha_zero_is_plain_cross_entropy(problem):
    x, y = problem
    distiller = kdkeras.Distiller(tiny_model(2), tiny_model(1), alpha=0.0)
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=len(x), return_dict=True, verbose=0)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, distiller.student(x))
    np.testing.assert_allclose(logs["loss"], float(ce), rtol=1e-5)


def test_saving_the_distiller_and_the_student(problem, tmp_path, distiller_saving_test):
    x, y = problem
    distiller = kdkeras.Distiller(tiny_model(2), tiny_model(1), temperature=5.0, alpha=0.25)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    restored = distiller_saving_test(distiller, x, y)
    assert (restored.temperature, restored.alpha, restored.loss_weight) == (5.0, 0.25, 1.0)
    weighted = kdkeras.Distiller(tiny_model(2), tiny_model(1), loss_weight=10.0)
    weighted.compile(optimizer="sgd")
    assert distiller_saving_test(weighted, x, y).loss_weight == 10.0
    distiller.save_student(str(tmp_path / "student.keras"))
    student = keras.models.load_model(tmp_path / "student.keras")
    assert type(student) is keras.Sequential
    np.testing.assert_allclose(np.asarray(student(x)), np.asarray(distiller.student(x)), atol=1e-6)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="alpha"):
        kdkeras.Distiller(tiny_model(2), tiny_model(1), alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        kdkeras.Distiller(tiny_model(2), tiny_model(1), temperature=0)
    with pytest.raises(ValueError, match="loss_weight"):
        kdkeras.Distiller(tiny_model(2), tiny_model(1), loss_weight=0)
    with pytest.raises(ValueError):
        kdkeras.Distiller(tiny_model(2, num_classes=4), tiny_model(1))
    stage1 = kdkeras.Distiller(tiny_model(3), tiny_model(1))
    with pytest.raises(ValueError, match=r"is a distiller; pass the model it trained, its `\.student`"):
        kdkeras.Distiller(tiny_model(2), stage1)
    with pytest.raises(ValueError, match="previous_student .* is a distiller"):
        kdkeras.GrowingStudentDistiller(tiny_model(2), tiny_model(1), stage1)


def z_score(logits):
    """Sun et al.'s `normalize`: sample standard deviation, 1e-7 added."""
    centred = logits - logits.mean(-1, keepdims=True)
    return centred / (logits.std(-1, ddof=1, keepdims=True) + 1e-7)


def test_logit_standardization_z_scores_the_kd_term_only(problem):
    x, y = problem[0][:64], problem[1][:64]
    teacher, student = tiny_model(1), tiny_model(2)
    distiller = kdkeras.Distiller(student, teacher, temperature=2.0, alpha=0.9, logit_standardization=True)
    distiller.compile(optimizer="sgd")
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt, zs = (np.asarray(m(x)).astype("float64") for m in (teacher, student))
    p, q = softmax(z_score(zt) / 2.0), softmax(z_score(zs) / 2.0)
    kd = 4.0 * np.sum(p * np.log(p / q), -1)
    ce = -np.log(softmax(zs)[np.arange(64), y])
    np.testing.assert_allclose(logs["loss"], np.mean(0.1 * ce + 0.9 * kd), rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], np.mean(kd), rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], np.mean(ce), rtol=1e-4)


def test_logit_standardization_is_saved_and_refused_for_the_virtual_teacher(problem, distiller_saving_test):
    distiller = kdkeras.Distiller(tiny_model(2), tiny_model(1), logit_standardization=True)
    distiller.compile(optimizer="adam")
    assert distiller_saving_test(distiller, *problem).logit_standardization
    assert kdkeras.Distiller(tiny_model(2), tiny_model(1)).get_config()["logit_standardization"] is False
    with pytest.raises(ValueError, match="logit_standardization .* virtual teacher"):
        kdkeras.VirtualTeacherDistiller(tiny_model(2), logit_standardization=True)


def lifted(teacher_logits, labels, margin):
    """The proposal's correction in numpy: on a misclassified example the true logit becomes max + margin."""
    out = teacher_logits.copy()
    wrong = np.argmax(out, -1) != labels
    out[wrong, labels[wrong]] = out[wrong].max(-1) + margin
    return out


@pytest.mark.parametrize("make", [kdkeras.Distiller, kdkeras.DecoupledDistiller, kdkeras.CorrelationDistiller])
def test_teacher_correction_matches_the_corrected_labels_given_as_logits(problem, make):
    # The loss (and its metrics) with `teacher_correction="lift"` is the loss of the same method fed the lifted
    # logits computed in numpy; the examples the teacher gets right are untouched.
    x, y = problem[0][:64], problem[1][:64]
    teacher_logits = np.random.default_rng(5).normal(size=(64, 3)).astype("float32") * 3.0
    wrong = np.argmax(teacher_logits, -1) != y
    assert 10 < wrong.sum() < 54
    corrected = lifted(teacher_logits, y, 0.5)
    np.testing.assert_array_equal(corrected[~wrong], teacher_logits[~wrong])
    logs = []
    for given, correction in ((teacher_logits, "lift"), (corrected, None)):
        distiller = make(tiny_model(2), tiny_model(1), teacher_correction=correction, correction_margin=0.5)
        distiller.compile(optimizer="sgd")
        logs.append(
            distiller.evaluate({"images": x, "teacher_logits": given}, y, batch_size=64, return_dict=True, verbose=0)
        )
    for name, value in logs[1].items():
        np.testing.assert_allclose(logs[0][name], value, rtol=1e-6, err_msg=name)
    plain = make(tiny_model(2), tiny_model(1))
    plain.compile(optimizer="sgd")
    raw = plain.evaluate({"images": x, "teacher_logits": teacher_logits}, y, batch_size=64, return_dict=True, verbose=0)
    assert abs(raw["distillation_loss"] - logs[0]["distillation_loss"]) > 1e-3  # the correction changed the term


def test_teacher_correction_is_saved_and_checked(problem, distiller_saving_test):
    distiller = kdkeras.Distiller(tiny_model(2), tiny_model(1), teacher_correction="swap")
    distiller.compile(optimizer="adam")
    assert distiller_saving_test(distiller, *problem).teacher_correction == "swap"
    assert kdkeras.Distiller(tiny_model(2), tiny_model(1), teacher_correction="none").teacher_correction is None
    with pytest.raises(ValueError, match="teacher_correction"):
        kdkeras.Distiller(tiny_model(2), tiny_model(1), teacher_correction="raise")
