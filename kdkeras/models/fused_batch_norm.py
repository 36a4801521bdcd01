"""Batch normalisation whose training step runs as one fused TensorFlow kernel."""

import contextlib

import keras

__all__ = ["FusedBatchNormalization", "with_keras_batch_norm", "batch_norm_named_as"]


@keras.saving.register_keras_serializable(package="kdkeras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that trains through `FusedBatchNormV3`.

    Why: Keras 3 normalises a training batch with separate moment,
    subtract, multiply and add ops and differentiates each one, a dozen
    passes over every activation. TensorFlow's fused kernel and its fused
    gradient (oneDNN's on CPU) do it in two. For the narrow layers of CIFAR
    ResNets the passes cost as much as the convolutions: on a 2-vCPU AVX2
    machine a ResNet8 training epoch takes about a quarter less CPU time
    (README, "Performance on CPUs").

    Only a training call of a trainable layer on 4-D channels-last float32
    inputs without a mask, on the TensorFlow backend, takes the fused path.
    Everything else (inference, frozen layers, masks, other ranks, axes or
    dtypes, renorm, synchronised statistics, other backends) runs the
    parent's code, so evaluation, saved models and TFLite exports compute
    exactly what a plain Keras layer computes. The moving statistics are
    updated as Keras updates them: with the batch's biased variance (the
    fused kernel returns the unbiased one, which is rescaled).

    Args:
        The arguments of `keras.layers.BatchNormalization`, kept and returned
        by `get_config` as there.

    Example:

    ```python
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = kdkeras.models.FusedBatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU()(x)
    ```

    Reference:
        Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift", ICML 2015;
        `tf.compat.v1.nn.fused_batch_norm`.
    """

    def _fusable(self, inputs, training, mask):
        return bool(
            training
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and not self.renorm
            and not self.synchronized
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
            and self.epsilon >= 1.001e-5  # the smallest epsilon the fused kernel accepts
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels], inputs.dtype)
        beta = self.beta if self.center else tf.zeros([channels], inputs.dtype)
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), inputs.dtype)
        variance = unbiased_variance * tf.maximum(count - 1.0, 0.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def with_keras_batch_norm(model):
    """`model` with each `FusedBatchNormalization` made a `keras.layers.BatchNormalization`.

    Why: a saved `.keras` file then holds Keras's own layers only and loads
    where kdkeras is not installed; the two compute the same function, and
    the configuration, weights and compile settings are kept. A model
    without the fused layer is returned as it is.
    """
    if not any(isinstance(layer, FusedBatchNormalization) for layer in model._flatten_layers()):
        return model

    def clone(layer):
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    plain = keras.models.clone_model(model, clone_function=clone, recursive=True)
    plain.set_weights(model.get_weights())
    if model.compiled:
        plain.compile_from_config(model.get_compile_config())
    return plain


@contextlib.contextmanager
def batch_norm_named_as(model, layer_class):
    """Within the block, every batch-norm layer of `model` reads and writes weights files as `layer_class`.

    Why: a `.weights.h5` file names each layer's group after its class, so
    a file written with `keras.layers.BatchNormalization` holds
    `batch_normalization_3` where a model with the fused layer looks for
    `fused_batch_normalization_3`, and the other way round. Both hold the
    same variables in the same order; only the name differs. A backup of a
    distiller whose teacher was trained in the same process names the
    teacher's layers as fused, and the resumed process loads that teacher
    from its `.keras` file with Keras's layer; a backup from before kdkeras
    used the fused layer names the student's as Keras's.

    Args:
        model: a Keras model; nested models included.
        layer_class: `keras.layers.BatchNormalization` or
            `FusedBatchNormalization`.
    """
    kinds = (keras.layers.BatchNormalization, FusedBatchNormalization)
    layers = [layer for layer in model._flatten_layers() if type(layer) in kinds]
    classes = [type(layer) for layer in layers]
    for layer in layers:
        layer.__class__ = layer_class
    try:
        yield model
    finally:
        for layer, layer_class_before in zip(layers, classes):
            layer.__class__ = layer_class_before
