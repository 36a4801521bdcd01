"""Teacher-free KD by regularisation: a hand-made teacher distribution."""

import keras

from kdkeras import losses
from kdkeras.distillers.distiller import Distiller


@keras.saving.register_keras_serializable(package="kdkeras")
class VirtualTeacher(keras.Model):
    """Tf-KD's virtual teacher: maps labels to the logits `log p_v`.

    `p_v(y) = correct_prob` and `(1 - correct_prob) / (K - 1)` elsewhere. It
    has no weights; it is a model so that it can stand where a teacher does.

    Args:
        num_classes: `K`.
        correct_prob: probability of the true class, in `[0.9, 1)`.
    """

    def __init__(self, num_classes, correct_prob=0.9, name="virtual_teacher", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.correct_prob = float(correct_prob)
        self.built = True

    def call(self, labels):
        return losses.virtual_teacher_logits(labels, self.num_classes, self.correct_prob)

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "correct_prob": self.correct_prob}


@keras.saving.register_keras_serializable(package="kdkeras")
class VirtualTeacherDistiller(Distiller):
    """Tf-KD (regularisation): baseline KD from a virtual teacher.

    The loss is `(1-alpha) CE + alpha T^2 KL(p_v^T || p_s^T)` with `p_v` the
    distribution of `VirtualTeacher` and `p_v^T = softmax(log p_v / T)`.
    No network is trained or run as teacher.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        correct_prob: `p_v(y)`, at least 0.9 as in the paper.
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term, in `[0, 1]`.
        name: model name.

    Example:

    ```python
    distiller = kdkeras.VirtualTeacherDistiller(student, correct_prob=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train, epochs=5)
    ```

    Reference:
        Yuan et al., "Revisiting Knowledge Distillation via Label Smoothing
        Regularization", CVPR 2020, arXiv 1909.11723.
    """

    def __init__(
        self,
        student,
        correct_prob=0.9,
        temperature=4.0,
        alpha=0.9,
        teacher=None,
        name="virtual_teacher_distiller",
        **kwargs,
    ):
        if not 0.9 <= correct_prob < 1.0:
            raise ValueError(f"correct_prob must be in [0.9, 1), got {correct_prob}")
        num_classes = int(student.outputs[0].shape[-1])
        teacher = teacher or VirtualTeacher(num_classes, correct_prob)
        super().__init__(student, teacher, temperature=temperature, alpha=alpha, name=name, **kwargs)
        self.correct_prob = float(correct_prob)

    def teacher_logits(self, images, labels, cached):
        return self.teacher(labels)

    def get_config(self):
        config = super().get_config()
        config["correct_prob"] = self.correct_prob
        return config
