"""Baseline knowledge distillation (Hinton et al. 2015) as a `keras.Model`."""

import keras
import tensorflow as tf

from kdkeras import losses

TEACHER_LOGITS = "teacher_logits"
IMAGES = "images"


def split_inputs(x):
    """Returns `(images, precomputed)`: a batch's pixels and its cached logits.

    A batch's `x` is either the pixels, or a dict with the pixels under
    `"images"` and precomputed logits (for instance `"teacher_logits"`), so
    that a teacher whose input never changes runs once, not every epoch.
    """
    if isinstance(x, dict):
        precomputed = {k: v for k, v in x.items() if k != IMAGES}
        return x[IMAGES], precomputed
    return x, {}


@keras.saving.register_keras_serializable(package="kdkeras")
class Distiller(keras.distillation.Distiller):
    """Trains `student` from a frozen `teacher` with the baseline KD loss.

    The loss of each batch is the mean over the global batch of
    `(1 - alpha) * CE(y, z_s) + alpha * T^2 * KL(p_t^T || p_s^T)`.
    Note the convention: `alpha` weighs the *KD* term, whereas
    `keras.distillation.Distiller`'s `student_loss_weight` (which this class
    extends, and is given `1 - alpha`) weighs the cross-entropy term.

    The teacher runs in inference mode and is never updated; the metrics
    (`loss`, `student_loss`, `distillation_loss` and any compiled ones such
    as `accuracy`) describe the student. A batch is `(pixels, labels)`, or
    `({"images": pixels, "teacher_logits": logits}, labels)` to train from
    logits computed beforehand.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        teacher: trained `keras.Model` with the same input and output shape.
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term, in `[0, 1]`.
        name: model name.

    Example:

    ```python
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    distiller = kdkeras.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train, epochs=10, validation_data=test)
    distiller.student.save("student.keras")
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015, arXiv 1503.02531.
    """

    def __init__(self, student, teacher, temperature=4.0, alpha=0.9, name="distiller", **kwargs):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        super().__init__(
            teacher=teacher,
            student=student,
            distillation_losses=keras.distillation.LogitsDistillation(temperature=float(temperature)),
            student_loss_weight=1.0 - float(alpha),
            name=name,
            **kwargs,
        )
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.built = True

    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Configures training; the loss is the distiller's own, so no `loss`."""
        if kwargs.pop("loss", None) is not None:
            raise ValueError("Distiller.compile takes no loss: the loss is set by the distiller's arguments.")
        keras.Model.compile(self, optimizer=optimizer, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        config = keras.utils.deserialize_keras_object(config)
        self.compile(optimizer=config.get("optimizer"), metrics=config.get("metrics"))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.student.trainable_variables)

    @property
    def metrics(self):
        return [m for m in super().metrics if m is not self.total_loss_tracker]

    def call(self, inputs, training=None):
        images, _ = split_inputs(inputs)
        return self.student(images, training=training)

    def teacher_logits(self, images, labels, precomputed):
        """The teacher's logits for a batch: cached ones, else a forward pass."""
        if TEACHER_LOGITS in precomputed:
            return tf.cast(precomputed[TEACHER_LOGITS], tf.float32)
        return tf.cast(self.teacher(images, training=False), tf.float32)

    def student_loss_terms(self, labels, student_logits, teacher_logits, precomputed, images, count):
        """Per-example `(total, ce, kd)` of the method; subclasses redefine it.

        `count` is the global batch size, for any extra mean to track.
        """
        return losses.kd_loss_per_example(labels, student_logits, teacher_logits, self.temperature, self.alpha)

    def local_counts(self, labels, teacher_logits):
        """This replica's example counts that the step needs summed over replicas.

        All of them are summed in one collective, before any gradient, so
        every replica issues its collectives in the same order. Subclasses
        append their own (WSKD: the teacher's errors).
        """
        return [tf.cast(tf.shape(labels)[0], tf.float32)]

    def _apply_student_update(self, scaled_loss, tape):
        """One optimizer update of the student from `optimizer.scale_loss(loss)` taped in `tape`."""
        variables = self.student.trainable_variables
        self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)

    def _distillation_loss(self, data, training):
        """Forward pass and global-mean loss of one batch, for train and test."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        images, precomputed = split_inputs(x)
        teacher_logits = tf.stop_gradient(self.teacher_logits(images, y, precomputed))
        counts = losses.global_sum(tf.stack(self.local_counts(y, teacher_logits)))
        student_logits = tf.cast(self.student(images, training=training), tf.float32)
        total, ce, kd = self.student_loss_terms(y, student_logits, teacher_logits, precomputed, images, counts[0])
        loss = losses.global_mean(total, count=counts[0])
        if self.student.losses:
            loss += tf.add_n(self.student.losses) / tf.cast(losses.num_replicas(), tf.float32)
        means = (losses.global_mean(ce, count=counts[0]), losses.global_mean(kd, count=counts[0]))
        return loss, (images, y, student_logits, teacher_logits, counts) + means

    def _update_trackers(self, loss, student_loss, distillation_loss):
        self._loss_tracker.update_state(losses.unscaled(loss))
        self.student_loss_tracker.update_state(losses.unscaled(student_loss))
        self.distillation_loss_tracker.update_state(losses.unscaled(distillation_loss))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, (images, y, student_logits, teacher_logits, counts, ce, kd) = self._distillation_loss(data, True)
            scaled_loss = self.optimizer.scale_loss(loss)
        self._apply_student_update(scaled_loss, tape)
        self._update_trackers(loss, ce, kd)
        self.after_first_update(images, y, teacher_logits, counts)
        return self.compute_metrics(images, y, student_logits)

    def after_first_update(self, images, labels, teacher_logits, counts):
        """Hook for methods that update again within the batch (WSKD).

        `counts` are `local_counts` summed over the replicas.
        """

    def test_step(self, data):
        loss, (images, y, student_logits, _, _, ce, kd) = self._distillation_loss(data, False)
        self._update_trackers(loss, ce, kd)
        return self.compute_metrics(images, y, student_logits)

    def save_student(self, filepath):
        """Saves the student alone as a plain `.keras` file, atomically."""
        from kdkeras.io import save_model_atomic

        save_model_atomic(self.student, filepath)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "alpha": self.alpha,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher", "previous_student"):
            if key in config and isinstance(config[key], dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
