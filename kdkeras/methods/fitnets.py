"""FitNets (Romero et al., ICLR 2015): a hint from a teacher layer to a student layer through a learned projection."""

import dataclasses
from typing import Optional

from kdkeras import ranges
from kdkeras.methods.unit import Method
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    fitnets_student_layer: Optional[str] = setting(
        None, "fitnets: the student layer whose output is hinted (default: the end of a kdkeras ResNet's second stage)"
    )
    fitnets_teacher_layer: Optional[str] = setting(
        None, "fitnets: the teacher layer that gives the hint (default: the end of a kdkeras ResNet's second stage)"
    )
    fitnets_hint_weight: float = setting(
        100.0,
        "fitnets: weight of the hint (mean squared error of the projected student feature to the teacher's)",
        valid=ranges.NON_NEGATIVE,
        tune=Tune(1.0, 1000.0, "log"),
    )


def pipeline(run):
    """FitNets: the student's inner feature, projected, learns the teacher's; the teacher runs every step."""
    from kdkeras.distillers import FeatureDistiller
    from kdkeras.pipelines.links import teacher_of

    config = run.config
    teacher = teacher_of(run, METHOD.teacher)

    def make(student):
        return FeatureDistiller(
            student,
            teacher,
            student_layer=config.fitnets_student_layer,
            teacher_layer=config.fitnets_teacher_layer,
            hint_weight=config.fitnets_hint_weight,
        )

    # No cache: a feature map per augmented view is too large to keep, so the teacher runs at every step
    # and the record counts its forward passes.
    run.distill("student", config.student, make, config.epochs, ["teacher"])
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "fitnets",
    pipeline,
    teacher="trained",
    settings=Settings,
    knobs=("fitnets_hint_weight",),
)
