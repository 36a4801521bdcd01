"""`fit` for strategies Keras 3's own `fit` cannot drive (multi-worker).

Keras 3.15's `fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585: its symbolic build reduces a per-replica batch, and
a metrics reduction past that fails). This loop is TensorFlow's documented
custom-training path instead: the dataset is distributed by the strategy,
and `strategy.run` drives the model's own `train_step` (so every kdkeras
distiller trains exactly as under `fit`), with Keras callbacks, progress bar
and History as users expect.
"""

import keras
import tensorflow as tf


def _build_for_training(model, dataset, strategy):
    """Creates optimizer and metric variables in cross-replica context, before tracing."""
    x, y = next(iter(dataset))[:2]
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
        model.compute_metrics(x, y, model(x, training=False))
    model.reset_metrics()


def _logs(model):
    return {name: float(value) for name, value in model.get_metrics_result().items()}


def fit_with_strategy_run(
    model, dataset, strategy, epochs=1, callbacks=(), verbose=1, steps_per_epoch=None, initial_epoch=0
):
    """Trains a compiled `model` on a global-batch `dataset` under `strategy`.

    Args:
        model: a compiled `keras.Model` (any kdkeras distiller, or a plain
            model compiled with a loss), built under `strategy.scope()`.
        dataset: `tf.data.Dataset` batched by the global batch size.
        strategy: the `tf.distribute.Strategy`.
        epochs: the epoch to end at (as `fit`'s `epochs`).
        callbacks: Keras callbacks.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        steps_per_epoch: batches per epoch, for the progress bar.
        initial_epoch: the epoch to begin at (as `fit`'s; a resumed run
            gives the one its backup records).

    Returns:
        The `keras.callbacks.History` of the run.
    """
    _build_for_training(model, dataset, strategy)
    distributed = strategy.experimental_distribute_dataset(dataset)

    # As in Keras's own trainer: the replica step is one traced function that
    # every replica calls, so all replicas issue their collectives in one order.
    replica_step = tf.function(model.train_step, autograph=False, reduce_retracing=True)

    @tf.function(autograph=False)
    def train_step(batch):
        strategy.run(replica_step, args=(batch,))

    callback_list = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step, batch in enumerate(distributed):
            callback_list.on_train_batch_begin(step)
            train_step(batch)
            logs = _logs(model)
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return model.history
