import keras
import numpy as np
import pytest
import tensorflow as tf

from kdkeras import optimizers


def _torch_sgd_nesterov(w, grads, lr, momentum, l2):
    """PyTorch's SGD(nesterov=True, weight_decay=l2) update, written out."""
    buf = None
    for g in grads:
        d = g + l2 * w
        buf = d if buf is None else momentum * buf + d
        w = w - lr * (d + momentum * buf)
    return w


@pytest.mark.parametrize("steps", [1, 3])
def test_l2sgd_matches_l2_in_the_gradient(steps):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3)).astype("float32")
    grads = [rng.normal(size=(4, 3)).astype("float32") for _ in range(steps)]
    variable = keras.Variable(w0)
    optimizer = optimizers.L2SGD(0.1, momentum=0.9, nesterov=True, l2=5e-2)
    # The gradient of a loss is evaluated at the current weights; here it is given.
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
    # Keras's Nesterov form equals PyTorch's at a constant rate.
    expected = _torch_sgd_nesterov(w0, grads, 0.1, 0.9, 5e-2)
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_l2_and_decoupled_differ_with_momentum_and_agree_without():
    w0 = np.ones((2,), "float32")
    g = np.zeros((2,), "float32")

    def run(mode, momentum):
        variable = keras.Variable(w0)
        optimizer = optimizers.make_optimizer(
            "sgd", 0.1, 10, schedule="constant", momentum=momentum, weight_decay=0.1, weight_decay_mode=mode
        )
        for _ in range(3):
            optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
        return variable.numpy()

    np.testing.assert_allclose(run("l2", 0.0), run("decoupled", 0.0), rtol=1e-6)
    # With momentum the L2 term accumulates in the buffer: a stronger pull towards 0.
    assert np.all(run("l2", 0.9) < run("decoupled", 0.9))


def test_l2sgd_round_trips_through_get_config():
    optimizer = optimizers.L2SGD(0.05, momentum=0.9, nesterov=True, l2=5e-4)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, optimizers.L2SGD)
    assert restored.l2 == 5e-4 and restored.nesterov


def test_negative_l2_is_refused():
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        optimizers.L2SGD(0.1, l2=-1.0)


def test_onecycle_warms_up_then_anneals():
    peak, total = 0.1, 1000
    schedule = optimizers.make_schedule("onecycle", peak, total, warmup_fraction=0.15)
    lr = np.array([float(schedule(step)) for step in range(0, total + 1, 10)])
    steps = np.arange(0, total + 1, 10)
    assert lr[0] == pytest.approx(peak / 25)
    assert float(schedule(150)) == pytest.approx(peak)
    assert lr[steps <= 150].tolist() == sorted(lr[steps <= 150].tolist())
    assert lr[steps >= 150].tolist() == sorted(lr[steps >= 150].tolist(), reverse=True)
    assert lr[-1] == pytest.approx(peak / 25 / 1e4, rel=1e-3)


def test_unknown_schedule_and_mode_are_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        optimizers.make_schedule("linear", 0.1, 10)
    with pytest.raises(ValueError, match="weight_decay_mode must be one of"):
        optimizers.make_optimizer("sgd", 0.1, 10, weight_decay_mode="l1")


def _decaying(kind):
    """An SGD without momentum that decays by `lr * 0.5 * w` per update, in each of the two forms."""
    if kind == "decoupled":
        return keras.optimizers.SGD(0.1, weight_decay=0.5)
    if kind == "l2":
        return optimizers.L2SGD(0.1, momentum=0.0, l2=0.5)
    return keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1, weight_decay=0.5), initial_scale=1.0)


@pytest.mark.parametrize("kind", ["decoupled", "l2", "loss_scale"])
def test_without_weight_decay_updates_with_the_gradient_alone_then_restores(kind):
    w0, g = np.array([1.0, -2.0], "float32"), np.array([0.5, 0.25], "float32")
    variable = keras.Variable(w0)
    optimizer = _decaying(kind)
    gradient = keras.ops.convert_to_tensor(g)
    with optimizers.without_weight_decay(optimizer):
        optimizer.apply([gradient], [variable])
    w1 = w0 - 0.1 * g
    np.testing.assert_allclose(variable.numpy(), w1, rtol=1e-6)
    optimizer.apply([gradient], [variable])
    np.testing.assert_allclose(variable.numpy(), w1 - 0.1 * (g + 0.5 * w1), rtol=1e-6)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    assert (inner.weight_decay, getattr(inner, "l2", None)) == ((None, 0.5) if kind == "l2" else (0.5, None))


@pytest.mark.parametrize("kind", ["decoupled", "l2"])
def test_inside_a_traced_function_only_the_updates_traced_within_skip_the_decay(kind):
    w0, g = np.array([1.0, -2.0], "float32"), np.array([0.5, 0.25], "float32")
    variable = keras.Variable(w0)
    optimizer = _decaying(kind)
    optimizer.build([variable])

    @tf.function
    def two_updates(gradient):
        optimizer.apply([gradient], [variable])
        with optimizers.without_weight_decay(optimizer):
            optimizer.apply([gradient], [variable])

    for _ in range(2):  # traced once, run twice: the decay is decided when tracing
        two_updates(tf.constant(g))
    w = w0
    for _ in range(2):
        w = w - 0.1 * (g + 0.5 * w)
        w = w - 0.1 * g
    np.testing.assert_allclose(variable.numpy(), w, rtol=1e-6)


def test_overlapping_holds_restore_at_the_last_exit():
    # Replica threads under MirroredStrategy enter and leave in interleaved order.
    optimizer = _decaying("decoupled")
    first, second = optimizers.without_weight_decay(optimizer), optimizers.without_weight_decay(optimizer)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert optimizer.weight_decay is None
    second.__exit__(None, None, None)
    assert optimizer.weight_decay == 0.5
