"""DIST: distillation of the teacher's relations, by Pearson correlation."""

import keras

from kdkeras import losses, ranges
from kdkeras.distillers.distiller import Distiller


@keras.saving.register_keras_serializable(package="kdkeras")
class CorrelationDistiller(Distiller):
    """DIST: `ce_weight * CE + inter_weight * inter + intra_weight * intra`.

    Instead of matching the teacher's probabilities exactly (KL), the
    student matches their relations, up to scale and shift: `inter` is
    `tau^2 (1 - Pearson)` between an example's student and teacher
    probability vectors (averaged over examples), `intra` the same between
    a class's probabilities across the examples of the batch (averaged over
    classes), with `p = softmax(z / tau)`. The batch of `intra` is the
    global batch under `tf.distribute` (`losses.correlation_kd_per_example`),
    so one replica and several train alike; a batch of one has no intra
    relation to learn and adds the constant `intra_weight * tau^2`.

    Metrics: `loss`; `student_loss` (CE); `distillation_loss`
    (`inter_weight * inter + intra_weight * intra`); `inter_loss` and
    `intra_loss` (each `tau^2`-scaled, unweighted).

    The defaults are those of the authors' CIFAR-100 recipe as far as it
    could be read: their code scales both relations by `tau^2` (`DIST(beta,
    gamma, tau)` of `hunto/image_classification_sota`'s `dist_kd.py`, CE
    weight 1), with `tau = 4` and `beta = gamma = 2` on CIFAR-100 (the
    values reimplementations for CIFAR-100 use, e.g. `DISTLoss(beta=2,
    gamma=2, tem=4)`); the authors' `dist_cifar.yaml` itself was not
    readable, so check it before quoting these as theirs.

    Args:
        student: `keras.Model` mapping pixels to logits; it is trained.
        teacher: trained `keras.Model` with as many classes (see `Distiller`).
        tau: softmax temperature `> 0` of both relations.
        inter_weight: weight `beta >= 0` of the inter-class relation.
        intra_weight: weight `gamma >= 0` of the intra-class relation.
        ce_weight: weight of the cross-entropy term, `>= 0`.
        logit_standardization: z-score both logits before the softmax (see
            `Distiller`).
        name: model name.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    train = ...  # a tf.data.Dataset of (pixels, labels) batches
    student = kdkeras.models.get("resnet8", (32, 32, 3), 10)
    distiller = kdkeras.CorrelationDistiller(student, teacher, tau=4.0)
    distiller.compile(optimizer="sgd", metrics=["accuracy"])
    distiller.fit(train, epochs=5)
    distiller.save_student("student.keras")
    ```

    Reference:
        Huang, You, Wang, Qian and Xu, "Knowledge Distillation from A
        Stronger Teacher", NeurIPS 2022, arXiv 2205.10536; code at
        github.com/hunto/DIST_KD.
    """

    def __init__(
        self,
        student,
        teacher,
        tau=4.0,
        inter_weight=2.0,
        intra_weight=2.0,
        ce_weight=1.0,
        logit_standardization=False,
        name="correlation_distiller",
        **kwargs,
    ):
        for label, value in (("inter_weight", inter_weight), ("intra_weight", intra_weight), ("ce_weight", ce_weight)):
            ranges.NON_NEGATIVE.check(label, value)
        ranges.POSITIVE.check("tau", tau)
        super().__init__(
            student,
            teacher,
            temperature=tau,
            logit_standardization=logit_standardization,
            name=name,
            **kwargs,
        )
        self.tau = float(tau)
        self.inter_weight = float(inter_weight)
        self.intra_weight = float(intra_weight)
        self.ce_weight = float(ce_weight)
        self.inter_tracker = keras.metrics.Mean(name="inter_loss")
        self.intra_tracker = keras.metrics.Mean(name="intra_loss")

    def student_loss_terms(self, labels, student_logits, teacher_logits, cached, images, count):
        relations, inter, intra = losses.correlation_kd_per_example(
            student_logits,
            teacher_logits,
            self.tau,
            self.inter_weight,
            self.intra_weight,
            self.logit_standardization,
        )
        ce = losses.cross_entropy_per_example(labels, student_logits)
        self.inter_tracker.update_state(losses.unscaled(losses.global_mean(inter, count=count)))
        self.intra_tracker.update_state(losses.unscaled(losses.global_mean(intra, count=count)))
        return self.ce_weight * ce + relations, ce, relations

    def get_config(self):
        config = super().get_config()
        for inherited in ("temperature", "alpha"):
            config.pop(inherited)
        config.update(
            {
                "tau": self.tau,
                "inter_weight": self.inter_weight,
                "intra_weight": self.intra_weight,
                "ce_weight": self.ce_weight,
            }
        )
        return config
