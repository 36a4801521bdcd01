"""Growing Student KD: one stage, taught by the teacher and the previous stage."""

import keras
import tensorflow as tf

from kdkeras import losses, models, ranges
from kdkeras.distillers.distiller import Distiller, check_frozen_model

PREVIOUS_LOGITS = "previous_logits"


@keras.saving.register_keras_serializable(package="kdkeras")
class GrowingStudentDistiller(Distiller):
    """GSKD stage `k > 1`: the student learns from the teacher and stage `k-1`.

    The loss is the mean over the global batch of
    `(1-alpha) CE + alpha T^2 KL(p_t^T || p_k^T) + gamma T^2 KL(p_{k-1}^T || p_k^T)`.
    Both the teacher and the previous stage are frozen and run in inference
    mode. The staged growth itself (stage 1 by baseline KD, then one
    `GrowingStudentDistiller` per larger student) is
    the `gskd` unit, `kdkeras.methods.gskd`.

    A batch may carry cached `"teacher_logits"` and `"previous_logits"` in a
    dict beside `"images"`. The metric `previous_distillation_loss` is the
    mean of the KL term to the previous stage (times `T^2`).

    Args:
        student: `keras.Model` of this stage; it is trained.
        teacher: trained `keras.Model`.
        previous_student: the finished student of the previous stage.
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term to the teacher, in `[0, 1]`.
        gamma: weight of the KD term to the previous stage, `>= 0`.
        logit_standardization: z-score the logits of both KD terms (see
            `Distiller`).
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    stage1_student = keras.saving.load_model("resnet8_student.keras")  # stage 1's result
    train = ...  # a tf.data.Dataset of (pixels, labels) batches
    stage2 = kdkeras.GrowingStudentDistiller(
        kdkeras.models.get("resnet14", (32, 32, 3), 10), teacher,
        stage1_student, gamma=0.5)
    stage2.compile(optimizer="sgd", metrics=["accuracy"])
    stage2.fit(train, epochs=5)
    stage2.save_student("resnet14_student.keras")
    ```

    Reference:
        kdkeras's GSKD, from the project's research proposal; README.md,
        "The methods", gives its loss.
    """

    FROZEN_MODEL_ARGUMENTS = ("teacher", "previous_student")

    def __init__(
        self,
        student,
        teacher,
        previous_student,
        temperature=4.0,
        alpha=0.9,
        gamma=0.5,
        logit_standardization=False,
        name="growing_student_distiller",
        **kwargs,
    ):
        ranges.NON_NEGATIVE.check("gamma", gamma)
        super().__init__(
            student,
            teacher,
            temperature=temperature,
            alpha=alpha,
            logit_standardization=logit_standardization,
            name=name,
            **kwargs,
        )
        check_frozen_model(previous_student, student, "previous_student")
        self.previous_student = previous_student
        self.previous_student.trainable = False
        self.gamma = float(gamma)
        self.previous_loss_tracker = keras.metrics.Mean(name="previous_distillation_loss")

    def previous_logits(self, images, cached):
        """The previous stage's logits: cached ones, else a forward pass."""
        if PREVIOUS_LOGITS in cached:
            return tf.cast(cached[PREVIOUS_LOGITS], tf.float32)
        return models.logits(self.previous_student, images)

    def student_loss_terms(self, labels, student_logits, teacher_logits, cached, images, count):
        previous = tf.stop_gradient(self.previous_logits(images, cached))
        total, ce, kd, kd_previous = losses.growing_student_loss_per_example(
            labels,
            student_logits,
            teacher_logits,
            previous,
            self.temperature,
            self.alpha,
            self.gamma,
            self.logit_standardization,
        )
        self.previous_loss_tracker.update_state(losses.unscaled(losses.global_mean(kd_previous, count=count)))
        return total, ce, kd

    def get_config(self):
        config = super().get_config()
        config["gamma"] = self.gamma
        return config
