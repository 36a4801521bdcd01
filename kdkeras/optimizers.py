"""The run's optimizer and learning-rate schedule, and L2 weight decay in the gradient.

Keras's `weight_decay` is decoupled (AdamW / SGDW): `w -= lr * wd * w`
beside the gradient step. PyTorch's `SGD(weight_decay=wd)` and most CIFAR
recipes instead add `wd * w` to the gradient, so the decay enters the
momentum buffer; with momentum 0.9 that regulariser is about ten times
stronger at the same `wd`. Both are offered: `weight_decay_mode="l2"`
selects the gradient form through the optimizers below.

`without_weight_decay` lets a method make an extra update in a batch (WSKD's
step 2) without regularising a second time.
"""

import contextlib
import threading

import keras
import tensorflow as tf

from kdkeras import ranges

__all__ = [
    "L2SGD",
    "L2Adam",
    "make_optimizer",
    "make_schedule",
    "without_weight_decay",
    "SCHEDULES",
    "WEIGHT_DECAY_MODES",
]

SCHEDULES = ranges.SCHEDULES.choices
WEIGHT_DECAY_MODES = ranges.WEIGHT_DECAY_MODES.choices
# PyTorch's OneCycleLR defaults: start at peak/25, end at start/1e4.
ONECYCLE_DIV_FACTOR = 25.0
ONECYCLE_FINAL_DIV_FACTOR = 1e4


class _GradientL2:
    """Adds `l2 * w` to every variable's gradient before the update.

    Inside `tf.distribute` the gradients reaching `apply` are still per
    replica and are summed across replicas afterwards, so each replica adds
    `l2 * w / replicas`: the term is counted once.
    """

    def __init__(self, *args, l2=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.l2 = float(l2)

    def apply(self, grads, trainable_variables=None):
        if self.l2:
            variables = self._trainable_variables if trainable_variables is None else trainable_variables
            context = tf.distribute.get_replica_context()
            replicas = context.num_replicas_in_sync if context is not None else 1
            factor = self.l2 / replicas
            grads = [g if g is None else g + factor * tf.cast(v, g.dtype) for g, v in zip(grads, variables)]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


@keras.saving.register_keras_serializable(package="kdkeras")
class L2SGD(_GradientL2, keras.optimizers.SGD):
    """SGD whose weight decay is L2 in the gradient, as `torch.optim.SGD(weight_decay=l2)`.

    Args:
        l2: coefficient added as `l2 * w` to each gradient (0 for none).
        *args, **kwargs: as `keras.optimizers.SGD`.

    Example:

    ```python
    optimizer = kdkeras.optimizers.L2SGD(0.1, momentum=0.9, nesterov=True, l2=5e-4)
    ```
    """


@keras.saving.register_keras_serializable(package="kdkeras")
class L2Adam(_GradientL2, keras.optimizers.Adam):
    """Adam with L2 in the gradient (the original Adam, not AdamW).

    Args:
        l2: coefficient added as `l2 * w` to each gradient (0 for none).
        *args, **kwargs: as `keras.optimizers.Adam`.
    """


_SUSPENDED_LOCK = threading.Lock()
# id(optimizer) -> [depth, saved weight_decay, saved l2] of the optimizers `without_weight_decay` holds.
_SUSPENDED = {}


def _wrapped_chain(optimizer):
    """`optimizer` and the optimizers it wraps (`LossScaleOptimizer.inner_optimizer`), outermost first."""
    chain = []
    while optimizer is not None:
        chain.append(optimizer)
        optimizer = getattr(optimizer, "inner_optimizer", None)
    return chain


@contextlib.contextmanager
def without_weight_decay(optimizer):
    """Within it, `optimizer.apply` makes no weight decay of either form.

    Keras's decoupled `weight_decay` and the `l2` of `L2SGD`/`L2Adam` are set
    to none on `optimizer` and any optimizer it wraps, then restored. Both
    are read when `apply` is traced, so inside a `tf.function` it is the
    updates traced within the block that have no decay. Entries nest and may
    overlap across threads (a `MirroredStrategy` traces each replica's step in
    its own thread, and they interleave at every `merge_call`): the first
    entry saves the values and the last exit restores them.
    """
    chain = _wrapped_chain(optimizer)
    with _SUSPENDED_LOCK:
        for held in chain:
            state = _SUSPENDED.get(id(held))
            if state is None:
                state = _SUSPENDED[id(held)] = [0, held.weight_decay, getattr(held, "l2", None)]
                held.weight_decay = None
                if state[2] is not None:
                    held.l2 = 0.0
            state[0] += 1
    try:
        yield optimizer
    finally:
        with _SUSPENDED_LOCK:
            for held in chain:
                state = _SUSPENDED[id(held)]
                state[0] -= 1
                if state[0] == 0:
                    del _SUSPENDED[id(held)]
                    held.weight_decay = state[1]
                    if state[2] is not None:
                        held.l2 = state[2]


def make_schedule(name, learning_rate, total_steps, warmup_fraction=0.15):
    """The learning rate over `total_steps` optimizer steps.

    `onecycle` is PyTorch's `OneCycleLR` shape on Keras's `CosineDecay`:
    from `learning_rate / 25` up to `learning_rate` over the first
    `warmup_fraction` of the steps (linear, where PyTorch's is a half
    cosine), then a cosine down to `learning_rate / 25 / 1e4`.
    """
    total_steps = max(1, int(total_steps))
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "step":
        boundaries = sorted({max(1, int(total_steps * 0.5)), max(2, int(total_steps * 0.75))})
        values = [learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if name == "onecycle":
        warmup_steps = int(round(total_steps * warmup_fraction))
        return keras.optimizers.schedules.CosineDecay(
            learning_rate / ONECYCLE_DIV_FACTOR,
            decay_steps=max(1, total_steps - warmup_steps),
            alpha=1.0 / (ONECYCLE_DIV_FACTOR * ONECYCLE_FINAL_DIV_FACTOR),
            warmup_target=learning_rate,
            warmup_steps=warmup_steps,
        )
    if name == "constant":
        return learning_rate
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")


def make_optimizer(
    name,
    learning_rate,
    total_steps,
    schedule="cosine",
    momentum=0.9,
    weight_decay=0.0,
    weight_decay_mode="decoupled",
    warmup_fraction=0.15,
):
    """The optimizer of one model: `sgd` (Nesterov) or `adam`, with its schedule and weight decay."""
    if weight_decay_mode not in WEIGHT_DECAY_MODES:
        raise ValueError(f"weight_decay_mode must be one of {', '.join(WEIGHT_DECAY_MODES)}, got {weight_decay_mode!r}")
    rate = make_schedule(schedule, learning_rate, total_steps, warmup_fraction)
    if weight_decay_mode == "l2":
        if name == "adam":
            return L2Adam(rate, l2=weight_decay)
        return L2SGD(rate, momentum=momentum, nesterov=True, l2=weight_decay)
    decay = weight_decay or None
    if name == "adam":
        return keras.optimizers.Adam(rate, weight_decay=decay)
    return keras.optimizers.SGD(rate, momentum=momentum, nesterov=True, weight_decay=decay)
