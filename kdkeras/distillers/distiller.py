"""Baseline knowledge distillation (Hinton et al. 2015) as a `keras.Model`."""

import collections

import keras
import tensorflow as tf

from kdkeras import losses, models, ranges
from kdkeras.distillers.virtual_teacher import VirtualTeacher

__all__ = ["Distiller", "StepOutputs", "split_inputs", "TEACHER_LOGITS", "IMAGES"]

TEACHER_LOGITS = "teacher_logits"
IMAGES = "images"

StepOutputs = collections.namedtuple(
    "StepOutputs",
    ["loss", "images", "labels", "student_logits", "teacher_logits", "counts", "student_loss", "distillation_loss"],
)
StepOutputs.__doc__ = """One batch's forward pass: the global-mean loss and what the step needs after it.

`counts` are `Distiller.local_counts` summed over the replicas;
`student_loss` and `distillation_loss` are the global means of the CE and
KD terms, for the metrics."""


def split_inputs(x):
    """Returns `(images, cached)`: a batch's pixels and its cached logits.

    A batch's `x` is either the pixels, or a dict with the pixels under
    `"images"` and cached logits (for instance `"teacher_logits"`), so
    that a frozen model whose input never changes runs once, not every epoch.
    """
    if isinstance(x, dict):
        cached = {k: v for k, v in x.items() if k != IMAGES}
        return x[IMAGES], cached
    return x, {}


def check_student(student):
    """Raises `ValueError` unless `student` is a Keras model that outputs logits."""
    if not isinstance(student, keras.Model):
        raise ValueError(f"student must be a keras.Model, got {type(student).__name__}")
    if models.gives_probabilities(student):
        raise ValueError(
            f"the student {student.name!r} ends in a softmax; a student must output logits "
            "(a last Dense layer without activation, or classifier_activation=None)"
        )


def check_frozen_model(model, student, role):
    """Raises `ValueError` unless `model` can teach `student`.

    A Keras model with as many outputs and input channels; its input
    height and width may differ, since each network gets the batch
    resized to its own.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"{role} must be a keras.Model, got {type(model).__name__}")
    if isinstance(model, Distiller):
        raise ValueError(f"the {role} {model.name!r} is a distiller; pass the model it trained, its `.student`")
    outputs = getattr(model, "outputs", None)
    if outputs and student.outputs and outputs[0].shape[-1] != student.outputs[0].shape[-1]:
        raise ValueError(
            f"the {role} {model.name!r} has {outputs[0].shape[-1]} outputs and the student "
            f"{student.name!r} {student.outputs[0].shape[-1]}; they must classify the same classes"
        )
    models.check_channels(model, student, role, "student")


@keras.saving.register_keras_serializable(package="kdkeras")
class Distiller(keras.Model):
    """Trains `student` from a frozen `teacher` with the baseline KD loss.

    The loss of each batch is the mean over the global batch of
    `(1 - alpha) * CE(y, z_s) + alpha * T^2 * KL(p_t^T || p_s^T)`.
    Note the convention: `alpha` weighs the *KD* term, whereas
    `keras.distillation.Distiller`'s `student_loss_weight` weighs the
    cross-entropy term (`student_loss_weight = 1 - alpha`). This class is a
    plain `keras.Model` rather than a `keras.distillation.Distiller`: its
    steps (one all-reduce of example counts, WSKD's second update, cached
    logits in the batch) replace all of the parent's, and it must accept
    what the parent refuses.

    The teacher runs in inference mode and is never updated; the metrics
    (`loss`, `student_loss`, `distillation_loss` and any compiled ones such
    as `accuracy`) describe the student. A batch is `(pixels, labels)`, or
    `({"images": pixels, "teacher_logits": logits}, labels)` to train from
    logits computed beforehand. Subclasses change `student_loss_terms`
    (the per-example loss), `teacher_logits`, `local_counts` and
    `after_first_update`, and list their frozen models in
    `FROZEN_MODEL_ARGUMENTS` for serialisation.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        teacher: trained `keras.Model` with as many classes and input
            channels; any input size (the batch is resized to it) and logits
            or, if it ends in a softmax, probabilities (their log is used).
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term, in `[0, 1]`.
        logit_standardization: z-score each example's teacher and student
            logits before the temperature softmax of the KD term (Sun et al.
            2024, `kdkeras.losses.standardize_logits`); the CE term keeps the
            raw logits. Refused with Tf-KD's `VirtualTeacher`, which has no
            network logits to standardize.
        teacher_correction: `None` (or `"none"`), `"lift"` or `"swap"`: on
            the examples the teacher misclassifies, its logits corrected as
            WSKD corrects them (`kdkeras.losses.correct_soft_labels`) before
            every term that matches them, so the soft labels point at the
            true class; the proposal's corrected labels on top of any logit
            method, in its one update. The step's `teacher_logits` stay the
            teacher's own.
        correction_margin: for `"lift"`, how far above the teacher's top
            logit the true logit is raised (`>= 0`).
        loss_weight: multiplies the method's whole loss (`> 0`; not the
            student's own regularisation losses, nor an optimizer's weight
            decay). Papers that give the CE and KD terms absolute weights
            need it: the logit-standardization authors' `1 CE + 9 KD` is
            `alpha=0.9, loss_weight=10`. Under plain SGD without weight decay
            it is the same as a learning rate `loss_weight` times larger;
            with weight decay it is not.
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    train, test = ...  # tf.data.Datasets of (pixels, labels) batches
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    distiller = kdkeras.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train, epochs=10, validation_data=test)
    distiller.save_student("student.keras")
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015, arXiv 1503.02531. Logit standardization: Sun et al.,
        "Logit Standardization in Knowledge Distillation", CVPR 2024,
        arXiv 2403.01427.
    """

    FROZEN_MODEL_ARGUMENTS = ("teacher",)

    def __init__(
        self,
        student,
        teacher,
        temperature=4.0,
        alpha=0.9,
        logit_standardization=False,
        teacher_correction=None,
        correction_margin=1.0,
        loss_weight=1.0,
        name="distiller",
        **kwargs,
    ):
        ranges.POSITIVE.check("temperature", temperature)
        ranges.POSITIVE.check("loss_weight", loss_weight)
        ranges.PROBABILITY.check("alpha", alpha)
        ranges.TEACHER_CORRECTIONS.check("teacher_correction", teacher_correction or "none")
        ranges.NON_NEGATIVE.check("correction_margin", correction_margin)
        if logit_standardization and isinstance(teacher, VirtualTeacher):
            raise ValueError(
                "logit_standardization z-scores a teacher network's logits; Tf-KD's virtual teacher has none "
                "(leave logit_standardization False)"
            )
        check_student(student)
        check_frozen_model(teacher, student, "teacher")
        if models.gives_probabilities(teacher):
            print(f"[kdkeras] the teacher {teacher.name!r} ends in a softmax: its log-probabilities are its logits")
        super().__init__(name=name, **kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.logit_standardization = bool(logit_standardization)
        self.teacher_correction = None if teacher_correction in (None, "none") else teacher_correction
        self.correction_margin = float(correction_margin)
        self.loss_weight = float(loss_weight)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.built = True

    def compile(self, optimizer="adam", metrics=None, **kwargs):
        """Configures training; the loss is the distiller's own, so no `loss`."""
        if kwargs.pop("loss", None) is not None:
            raise ValueError("Distiller.compile takes no loss: the loss is set by the distiller's arguments.")
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        config = keras.utils.deserialize_keras_object(config)
        self.compile(optimizer=config.get("optimizer"), metrics=config.get("metrics"))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.student.trainable_variables)

    @property
    def metrics(self):
        """The distiller's loss trackers first, then compiled and subclass metrics.

        `Model.compile` adds a `loss` tracker of its own for compiled losses;
        a distiller has none, so that one is left out.
        """
        own = [self.loss_tracker, self.student_loss_tracker, self.distillation_loss_tracker]
        rest = [m for m in super().metrics if m.name != "loss" and not any(m is o for o in own)]
        return own + rest

    def call(self, inputs, training=None):
        images, _ = split_inputs(inputs)
        return self.student_logits(images, training)

    def student_logits(self, images, training):
        """The student's float32 logits for a batch, resized to its input size."""
        return tf.cast(self.student(models.resize_to(self.student, images), training=training), tf.float32)

    def teacher_logits(self, images, labels, cached):
        """The teacher's logits for a batch: cached ones, else a forward pass (`kdkeras.models.logits`)."""
        if TEACHER_LOGITS in cached:
            return tf.cast(cached[TEACHER_LOGITS], tf.float32)
        return models.logits(self.teacher, images)

    def student_loss_terms(self, labels, student_logits, teacher_logits, cached, images, count):
        """Per-example `(total, ce, kd)` of the method; subclasses redefine it.

        `count` is the global batch size, for any extra mean to track.
        """
        return losses.kd_loss_per_example(
            labels, student_logits, teacher_logits, self.temperature, self.alpha, self.logit_standardization
        )

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

    def forward(self, data, training):
        """Forward pass and global-mean loss of one batch, for train and test: a `StepOutputs`."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        images, cached = split_inputs(x)
        teacher_logits = tf.stop_gradient(self.teacher_logits(images, y, cached))
        counts = losses.global_sum(tf.stack(self.local_counts(y, teacher_logits)))
        student_logits = self.student_logits(images, training)
        matched = teacher_logits
        if self.teacher_correction:
            matched = losses.correct_soft_labels(teacher_logits, y, self.teacher_correction, self.correction_margin)
        total, ce, kd = self.student_loss_terms(y, student_logits, matched, cached, images, counts[0])
        return self.step_outputs((total, ce, kd), counts, images, y, student_logits, teacher_logits)

    def step_outputs(self, terms, counts, images, labels, student_logits, teacher_logits, layer_losses=None):
        """The `StepOutputs` of per-example `(total, ce, distillation)` terms: their global means (the total's
        times `loss_weight`), and the trained layers' own losses (`layer_losses`, default the student's) added
        once over the replicas."""
        total, ce, distillation = terms
        loss = losses.global_mean(total, count=counts[0]) * self.loss_weight
        layer_losses = self.student.losses if layer_losses is None else layer_losses
        if layer_losses:
            loss += tf.add_n(layer_losses) / tf.cast(losses.num_replicas(), tf.float32)
        return StepOutputs(
            loss=loss,
            images=images,
            labels=labels,
            student_logits=student_logits,
            teacher_logits=teacher_logits,
            counts=counts,
            student_loss=losses.global_mean(ce, count=counts[0]),
            distillation_loss=losses.global_mean(distillation, count=counts[0]),
        )

    def _update_trackers(self, step):
        self.loss_tracker.update_state(losses.unscaled(step.loss))
        self.student_loss_tracker.update_state(losses.unscaled(step.student_loss))
        self.distillation_loss_tracker.update_state(losses.unscaled(step.distillation_loss))

    def train_step(self, data):
        before = self.before_first_update()
        with tf.GradientTape() as tape:
            step = self.forward(data, True)
            scaled_loss = self.optimizer.scale_loss(step.loss)
        self._apply_student_update(scaled_loss, tape)
        self._update_trackers(step)
        self.after_first_update(step.images, step.labels, step.teacher_logits, step.counts, before)
        return self.compute_metrics(step.images, step.labels, step.student_logits)

    def before_first_update(self):
        """Hook for methods that update again within the batch: what they need of the state before the
        batch's first update (WSKD: batch norm's moving statistics), passed to `after_first_update`."""
        return None

    def after_first_update(self, images, labels, teacher_logits, counts, before):
        """Hook for methods that update again within the batch (WSKD).

        `counts` are `local_counts` summed over the replicas; `before` is what `before_first_update`
        returned.
        """

    def test_step(self, data):
        step = self.forward(data, False)
        self._update_trackers(step)
        return self.compute_metrics(step.images, step.labels, step.student_logits)

    def save_student(self, filepath):
        """Saves the student alone as a plain `.keras` file, atomically."""
        from kdkeras.io import save_model_atomic

        save_model_atomic(self.student, filepath)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "student": keras.saving.serialize_keras_object(self.student),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "logit_standardization": self.logit_standardization,
            "teacher_correction": self.teacher_correction,
            "correction_margin": self.correction_margin,
            "loss_weight": self.loss_weight,
        }
        for key in self.FROZEN_MODEL_ARGUMENTS:
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student",) + cls.FROZEN_MODEL_ARGUMENTS:
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
