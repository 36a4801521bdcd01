"""Tf-KD's virtual teacher: a hand-made distribution standing where a teacher network would."""

import keras

from kdkeras import losses, ranges


@keras.saving.register_keras_serializable(package="kdkeras")
class VirtualTeacher(keras.Model):
    """Maps labels to the logits `log p_v` of Tf-KD's virtual teacher.

    `p_v(y) = correct_prob` and `(1 - correct_prob) / (K - 1)` on every
    other class. It has no weights; it is a model so that a distiller can
    hold it where a teacher goes, and save and load it with the distiller.
    Its input is the labels, not the pixels.

    Args:
        num_classes: `K`, at least 2.
        correct_prob: `p_v(y)`, in `[0.9, 1)` as in the paper.
        name: model name.

    Example:

    ```python
    teacher = kdkeras.VirtualTeacher(num_classes=10, correct_prob=0.9)
    logits = teacher(np.array([3, 7]))          # shape (2, 10)
    keras.ops.softmax(logits / 4.0)             # its softening at T = 4
    ```

    Reference:
        Yuan et al., "Revisiting Knowledge Distillation via Label Smoothing
        Regularization", CVPR 2020, arXiv 1909.11723.
    """

    def __init__(self, num_classes, correct_prob=0.9, name="virtual_teacher", **kwargs):
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        ranges.TFKD_CORRECT_PROB.check("correct_prob", correct_prob)
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.correct_prob = float(correct_prob)
        self.built = True

    def call(self, labels):
        return losses.virtual_teacher_logits(labels, self.num_classes, self.correct_prob)

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "correct_prob": self.correct_prob}
