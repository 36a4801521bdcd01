"""Decoupled knowledge distillation (DKD): target and non-target classes weighed apart."""

import keras
import tensorflow as tf

from kdkeras import losses, ranges
from kdkeras.distillers.distiller import Distiller


@keras.saving.register_keras_serializable(package="kdkeras")
class DecoupledDistiller(Distiller):
    """DKD: `ce_weight * CE + warmup * (alpha * TCKD + beta * NCKD)`.

    Baseline KD's divergence splits into a target-class term (TCKD, the
    binary teacher-vs-rest distribution) and a non-target term (NCKD, the
    distribution among the other classes) whose weight in KD is tied to
    `1 - p_t(y)`: a confident teacher mutes its dark knowledge. DKD frees
    the two weights (`losses.decoupled_kd_per_example`, `T^2`-scaled as in
    the authors' code). The DKD term grows linearly over the first
    `warmup_steps` batches, `min((step + 1) / warmup_steps, 1)` with `step`
    the optimizer's batch count (`optimizer.iterations`, which WSKD-style
    second updates do not advance), as mdistiller's `min(epoch / 20, 1)`
    does per epoch; a recipe sets it as a fraction of all its steps.

    Metrics: `loss`; `student_loss` (CE); `distillation_loss`
    (`alpha * TCKD + beta * NCKD`, before the warm-up factor); `tckd_loss`
    and `nckd_loss` (each `T^2`-scaled, unweighted).

    The defaults are the authors' for CIFAR-100 (mdistiller's `CFG.DKD`:
    CE weight 1, alpha 1, beta 8, T 4, warm-up 20 of 240 epochs).

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        teacher: trained `keras.Model` with as many classes (see `Distiller`).
        temperature: softmax temperature `T > 0`.
        alpha: weight of TCKD, `>= 0`.
        beta: weight of NCKD, `>= 0`.
        ce_weight: weight of the cross-entropy term, `>= 0`.
        warmup_steps: batches over which the DKD weight rises to 1, `>= 0`
            (0: no warm-up).
        logit_standardization: z-score both logits before the temperature
            softmax (see `Distiller`).
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    train = ...  # a tf.data.Dataset of (pixels, labels) batches, 390 a epoch
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    epochs = 240
    distiller = kdkeras.DecoupledDistiller(
        student, teacher, alpha=1.0, beta=8.0, warmup_steps=390 * epochs // 12)
    distiller.compile(optimizer="sgd", metrics=["accuracy"])
    distiller.fit(train, epochs=epochs)
    distiller.save_student("student.keras")
    ```

    Reference:
        Zhao, Cui, Song, Qiu and Liang, "Decoupled Knowledge Distillation",
        CVPR 2022, arXiv 2203.08679; defaults from the authors' mdistiller
        (`mdistiller/engine/cfg.py`, `mdistiller/distillers/DKD.py`).
    """

    def __init__(
        self,
        student,
        teacher,
        temperature=4.0,
        alpha=1.0,
        beta=8.0,
        ce_weight=1.0,
        warmup_steps=0,
        logit_standardization=False,
        name="decoupled_distiller",
        **kwargs,
    ):
        for label, value in (("alpha", alpha), ("beta", beta), ("ce_weight", ce_weight)):
            ranges.NON_NEGATIVE.check(label, value)
        ranges.WHOLE_NON_NEGATIVE.check("warmup_steps", warmup_steps)
        # The base class's alpha is a KD weight in [0, 1]; DKD's is TCKD's weight, set below.
        super().__init__(
            student,
            teacher,
            temperature=temperature,
            alpha=1.0,
            logit_standardization=logit_standardization,
            name=name,
            **kwargs,
        )
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.ce_weight = float(ce_weight)
        self.warmup_steps = int(warmup_steps)
        self.tckd_tracker = keras.metrics.Mean(name="tckd_loss")
        self.nckd_tracker = keras.metrics.Mean(name="nckd_loss")

    def warmup_factor(self):
        """The DKD term's weight at this batch: `min((iterations + 1) / warmup_steps, 1)`."""
        if self.warmup_steps == 0:
            return tf.constant(1.0)
        step = tf.cast(self.optimizer.iterations, tf.float32) + 1.0
        return tf.minimum(step / float(self.warmup_steps), 1.0)

    def student_loss_terms(self, labels, student_logits, teacher_logits, cached, images, count):
        dkd, tckd, nckd = losses.decoupled_kd_per_example(
            labels,
            student_logits,
            teacher_logits,
            self.temperature,
            self.alpha,
            self.beta,
            self.logit_standardization,
        )
        ce = losses.cross_entropy_per_example(labels, student_logits)
        self.tckd_tracker.update_state(losses.unscaled(losses.global_mean(tckd, count=count)))
        self.nckd_tracker.update_state(losses.unscaled(losses.global_mean(nckd, count=count)))
        return self.ce_weight * ce + self.warmup_factor() * dkd, ce, dkd

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta, "ce_weight": self.ce_weight, "warmup_steps": self.warmup_steps})
        return config
