"""Pruning and quantisation-aware fine-tuning with tensorflow-model-optimization.

tfmot is imported only here, and only when called: importing it sets
TF_USE_LEGACY_KERAS=1 for the process, and it works on tf_keras models
alone, so the Keras 3 student is first rebuilt in tf_keras.
"""

import numpy as np

from edge.legacy_keras import UnsupportedLayerError, to_tf_keras
from kdkeras import errors


def _steps_per_epoch(train_data):
    steps = int(train_data.cardinality())
    if steps < 0:
        steps = int(train_data.reduce(0, lambda count, _: count + 1))
    return max(1, steps)


def _kernels(model, tf_keras):
    return [
        layer.kernel.numpy()
        for layer in model.layers
        if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense))
    ]


def _compile(model, tf_keras, learning_rate):
    last = model.layers[-1]
    from_logits = getattr(last, "activation", None) is not tf_keras.activations.softmax
    model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
    )


def _prune(model, train_data, sparsity, epochs, learning_rate, tf_keras, tfmot):
    """Magnitude pruning of Conv2D and Dense kernels up to `sparsity`, then the masks stripped."""
    total = _steps_per_epoch(train_data) * max(1, epochs)
    frequency = max(1, total // 20)
    end_step = frequency * ((total // 2) // frequency)
    if end_step > 0:
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            0.0, sparsity, begin_step=0, end_step=end_step, frequency=frequency
        )
    else:
        schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=1)

    def wrap(layer):
        if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = tf_keras.models.clone_model(model, clone_function=wrap)
    _compile(pruned, tf_keras, learning_rate)
    pruned.fit(train_data, epochs=max(1, epochs), verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def _quantize_aware(model, train_data, epochs, learning_rate, tf_keras, tfmot):
    """QAT: fake-quantises every layer tfmot supports, then fine-tunes.

    The normalisation layer is left unannotated (tfmot has no quantize
    config for it); the converter quantises it from calibration data.
    """

    def annotate(layer):
        if isinstance(layer, (tf_keras.layers.Normalization, tf_keras.layers.Rescaling, tf_keras.layers.InputLayer)):
            return layer
        return tfmot.quantization.keras.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    quantized = tfmot.quantization.keras.quantize_apply(annotated)
    _compile(quantized, tf_keras, learning_rate)
    if epochs > 0:
        quantized.fit(train_data, epochs=epochs, verbose=0)
    return quantized


def fine_tune(model, train_data, qat_epochs=0, prune=None, prune_epochs=1, learning_rate=1e-4):
    """Returns a fine-tuned tf_keras twin of `model` and a dict of facts.

    Either prunes to sparsity `prune` (a float model, for any
    post-training conversion) or runs quantisation-aware training for
    `qat_epochs`. Not both: tfmot's sparsity-preserving QAT scheme fails on
    the normalisation layer, and plain QAT would undo the sparsity.

    Raises:
        kdkeras.errors.UsageError: the model has layers the tf_keras rebuild
            or tfmot cannot take.
    """
    if prune and qat_epochs:
        raise errors.UsageError(
            f"--prune={prune} with --quantization=qat: QAT would undo the sparsity; "
            "prune with --quantization=int8 instead"
        )
    import tensorflow_model_optimization as tfmot
    import tf_keras

    check_inputs = next(iter(train_data))[0][:8].numpy()
    mode = "--quantization=qat" if qat_epochs else f"--prune={prune}"
    try:
        twin = to_tf_keras(model, check_inputs=check_inputs)
    except UnsupportedLayerError as error:
        raise errors.UsageError(f"{mode}: tfmot needs a tf_keras rebuild of the model, and {error}") from None
    facts = {}
    if prune:
        twin = _prune(twin, train_data, prune, prune_epochs, learning_rate, tf_keras, tfmot)
        kernels = _kernels(twin, tf_keras)
        zeros = sum(int(np.sum(k == 0)) for k in kernels)
        facts.update(prune=float(prune), sparsity=zeros / max(1, sum(k.size for k in kernels)))
    if qat_epochs:
        try:
            twin = _quantize_aware(twin, train_data, qat_epochs, learning_rate, tf_keras, tfmot)
        except (ValueError, RuntimeError) as error:
            raise errors.UsageError(f"{mode}: tfmot cannot quantise the model: {str(error).splitlines()[0]}") from None
        facts["qat_epochs"] = int(qat_epochs)
    return twin, facts
