"""DIST (Huang et al., NeurIPS 2022): the teacher's inter-class and intra-class relations, by Pearson correlation."""

import dataclasses

from kdkeras import ranges
from kdkeras.methods.unit import Method
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    dist_inter_weight: float = setting(
        2.0,
        "dist: weight of the inter-class relation (each example's class probabilities)",
        valid=ranges.NON_NEGATIVE,
        tune=Tune(0.0, 4.0),
    )
    dist_intra_weight: float = setting(
        2.0,
        "dist: weight of the intra-class relation (each class's probabilities across the global batch)",
        valid=ranges.NON_NEGATIVE,
        tune=Tune(0.0, 4.0),
    )
    dist_ce_weight: float = setting(1.0, "dist: weight of the cross-entropy to the labels", valid=ranges.NON_NEGATIVE)


def pipeline(run):
    """DIST: the student matches the correlations among the teacher's probabilities, within and across examples."""
    from kdkeras.distillers import CorrelationDistiller
    from kdkeras.pipelines.links import frozen, teacher_of

    config = run.config
    teacher = teacher_of(run, METHOD.teacher)

    def make(student):
        return CorrelationDistiller(
            student,
            teacher,
            tau=config.temperature,
            inter_weight=config.dist_inter_weight,
            intra_weight=config.dist_intra_weight,
            ce_weight=config.dist_ce_weight,
            logit_standardization=config.logit_standardization,
            teacher_correction=config.teacher_correction,
        )

    run.distill("student", config.student, make, config.epochs, ["teacher"], frozen(teacher))
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "dist",
    pipeline,
    teacher="trained",
    settings=Settings,
    uses=("temperature", "logit_standardization", "teacher_correction"),
    knobs=("temperature", "dist_inter_weight", "dist_intra_weight"),
)
