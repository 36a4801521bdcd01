"""Teacher-free KD by regularisation: a hand-made teacher distribution."""

import keras

from kdkeras.distillers.distiller import Distiller, check_student
from kdkeras.distillers.virtual_teacher import VirtualTeacher


@keras.saving.register_keras_serializable(package="kdkeras")
class VirtualTeacherDistiller(Distiller):
    """Tf-KD (regularisation): baseline KD from a virtual teacher.

    The loss is `(1-alpha) CE + alpha T^2 KL(p_v^T || p_s^T)` with `p_v` the
    distribution of `VirtualTeacher` and `p_v^T = softmax(log p_v / T)`.
    No network is trained or run as teacher. At `T = 4` and `c = 0.9` with
    10 classes, `p_v^T` gives the true class only 0.25: with a large
    `alpha` that is a strong label smoothing.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        correct_prob: `p_v(y)`, at least 0.9 as in the paper.
        temperature: softmax temperature `T > 0`.
        alpha: weight of the KD term, in `[0, 1]`.
        teacher: `None` (a `VirtualTeacher` is built from the student's
            class count and `correct_prob`), or that same `VirtualTeacher`,
            as `from_config` passes it.
        name: model name.

    Example:

    ```python
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    train = ...  # a tf.data.Dataset of (pixels, labels) batches
    distiller = kdkeras.VirtualTeacherDistiller(student, correct_prob=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train, epochs=5)
    distiller.save_student("student.keras")
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
        check_student(student)  # before its outputs are read for the class count
        num_classes = int(student.outputs[0].shape[-1])
        if teacher is None:
            teacher = VirtualTeacher(num_classes, correct_prob)
        elif not (
            isinstance(teacher, VirtualTeacher)
            and (teacher.num_classes, teacher.correct_prob) == (num_classes, float(correct_prob))
        ):
            raise ValueError(
                f"teacher must be None or a VirtualTeacher({num_classes}, {correct_prob}) for this student "
                f"and correct_prob, got {_describe(teacher)}"
            )
        super().__init__(student, teacher, temperature=temperature, alpha=alpha, name=name, **kwargs)
        self.correct_prob = float(correct_prob)

    def teacher_logits(self, images, labels, cached):
        return self.teacher(labels)

    def get_config(self):
        config = super().get_config()
        config["correct_prob"] = self.correct_prob
        return config


def _describe(teacher):
    if isinstance(teacher, VirtualTeacher):
        return f"VirtualTeacher({teacher.num_classes}, {teacher.correct_prob})"
    return repr(getattr(teacher, "name", type(teacher).__name__))
