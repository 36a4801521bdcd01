import keras
import numpy as np
import pytest

import kdkeras
from kdkeras.distillers.conftest import tiny_model, weights_of


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def hand_dkd(labels, student, teacher, temperature):
    """TCKD and NCKD of Zhao et al. 2022 from the definitions, each times T^2, in float64."""
    p_t, p_s = softmax(teacher / temperature), softmax(student / temperature)
    rows = np.arange(len(labels))
    target = np.zeros_like(p_t, dtype=bool)
    target[rows, labels] = True
    b_t = np.stack([p_t[target], 1 - p_t[target]], -1)
    b_s = np.stack([p_s[target], 1 - p_s[target]], -1)
    q_t = np.where(target, 0, p_t) / b_t[:, 1:]
    q_s = np.where(target, 1, p_s) / b_s[:, 1:]
    nckd = np.sum(np.where(target, 0, q_t * np.log(np.where(target, 1, q_t) / q_s)), -1)
    return temperature**2 * np.sum(b_t * np.log(b_t / b_s), -1), temperature**2 * nckd


def hand_ce(labels, logits):
    return -np.log(softmax(logits)[np.arange(len(labels)), labels])


def z_score(logits):
    centred = logits - logits.mean(-1, keepdims=True)
    return centred / (logits.std(-1, ddof=1, keepdims=True) + 1e-7)


@pytest.mark.parametrize("standardize", [False, True])
def test_loss_is_ce_plus_warmed_up_dkd(problem, standardize):
    x, y = problem[0][:64], problem[1][:64]
    teacher, student = tiny_model(1), tiny_model(2)
    distiller = kdkeras.DecoupledDistiller(
        student,
        teacher,
        temperature=2.0,
        alpha=1.5,
        beta=6.0,
        ce_weight=0.5,
        warmup_steps=8,
        logit_standardization=standardize,
    )
    distiller.compile(optimizer=keras.optimizers.SGD(0.0))
    distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 4 batches: the next one is the 5th of 8
    logs = distiller.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    zt, zs = (np.asarray(m(x)).astype("float64") for m in (teacher, student))
    kd_t, kd_s = (z_score(zt), z_score(zs)) if standardize else (zt, zs)
    tckd, nckd = hand_dkd(y, kd_s, kd_t, 2.0)
    ce = hand_ce(y, zs)
    dkd = 1.5 * tckd + 6.0 * nckd
    np.testing.assert_allclose(logs["loss"], np.mean(0.5 * ce + (5 / 8) * dkd), rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], np.mean(ce), rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], np.mean(dkd), rtol=1e-4)
    np.testing.assert_allclose(logs["tckd_loss"], np.mean(tckd), rtol=1e-4)
    np.testing.assert_allclose(logs["nckd_loss"], np.mean(nckd), rtol=1e-4)


def test_warmup_rises_linearly_per_batch_and_stays_at_one(problem):
    x, y = problem
    distiller = kdkeras.DecoupledDistiller(tiny_model(2), tiny_model(1), warmup_steps=4)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0))
    factors = [float(distiller.warmup_factor())]
    for _ in range(5):
        distiller.fit(x[:32], y[:32], batch_size=32, epochs=1, verbose=0)
        factors.append(float(distiller.warmup_factor()))
    np.testing.assert_allclose(factors, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    no_warmup = kdkeras.DecoupledDistiller(tiny_model(2), tiny_model(1))
    no_warmup.compile(optimizer="sgd")
    assert float(no_warmup.warmup_factor()) == 1.0


def test_learns_and_cached_teacher_logits_give_the_same_update(problem):
    x, y = problem
    teacher = tiny_model(1)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=20, verbose=0)
    results = []
    for inputs in (x, {"images": x, "teacher_logits": np.asarray(teacher(x))}):
        distiller = kdkeras.DecoupledDistiller(tiny_model(2), teacher, warmup_steps=6)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
        history = distiller.fit(inputs, y, batch_size=32, epochs=4, verbose=0, shuffle=False)
        results.append(weights_of(distiller.student))
    assert history.history["accuracy"][-1] > 0.8  # chance is 1/3
    assert {"loss", "student_loss", "distillation_loss", "tckd_loss", "nckd_loss"} <= set(history.history)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_saving(problem, distiller_saving_test):
    distiller = kdkeras.DecoupledDistiller(
        tiny_model(2),
        tiny_model(1),
        temperature=3.0,
        alpha=9.0,
        beta=72.0,
        ce_weight=1.0,
        warmup_steps=11,
        logit_standardization=True,
    )
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    restored = distiller_saving_test(distiller, *problem)
    assert (restored.alpha, restored.beta, restored.ce_weight, restored.warmup_steps) == (9.0, 72.0, 1.0, 11)
    assert restored.temperature == 3.0 and restored.logit_standardization


def test_invalid_arguments_are_rejected():
    for bad in (
        {"alpha": -1.0},
        {"beta": -0.5},
        {"ce_weight": -1.0},
        {"warmup_steps": -1},
        {"warmup_steps": 2.5},
        {"temperature": 0.0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            kdkeras.DecoupledDistiller(tiny_model(2), tiny_model(1), **bad)
