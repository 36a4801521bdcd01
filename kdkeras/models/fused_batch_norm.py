"""Batch normalisation whose training step is one fused TensorFlow kernel."""

import keras


@keras.saving.register_keras_serializable(package="kdkeras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` training through `FusedBatchNormV3`.

    Keras 3 normalises a training batch with separate moment, subtraction,
    multiplication and addition ops, and differentiates each of them: about
    fifteen passes over every activation per layer. On the TensorFlow
    backend this layer computes the same thing with TensorFlow's fused
    kernel and its fused gradient (oneDNN's on CPU), for 4-D channels-last
    inputs in float32 during training. Everything else (inference, masks,
    other ranks, axes or dtypes, renorm, synchronised statistics, other
    backends) runs the parent's code, so saved and exported models compute
    exactly what a plain Keras layer computes. The moving variance is
    updated with the biased batch variance, as Keras does (the fused kernel
    returns the unbiased one, which is rescaled).
    """

    def _fusable(self, inputs, training, mask):
        return (
            training
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and not self.renorm
            and not self.synchronized
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.epsilon >= 1.001e-5
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
