"""Defective KD (Yuan et al. 2020): a teacher stopped early teaches the student."""

import dataclasses
from typing import Optional

from kdkeras import ranges
from kdkeras.methods.unit import LOGIT_MATCHING, Method, StudyFlag, StudyRole
from kdkeras.settings import setting


@dataclasses.dataclass
class Settings:
    defective_teacher_accuracy: Optional[float] = setting(
        None,
        "dekd: stop the teacher at the first epoch whose training accuracy reaches this",
        valid=ranges.Interval(0.0, 1.0, low_open=True, high_open=True),
    )


def pipeline(run):
    """Defective KD: a teacher stopped early teaches the student."""
    from kdkeras.pipelines.links import student_by_blkd

    return student_by_blkd(run, METHOD.teacher)


METHOD = Method(
    "dekd",
    pipeline,
    teacher="defective",
    settings=Settings,
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha"),
    study=StudyRole(
        flags=(
            StudyFlag(
                "dekd_teacher_epochs",
                0,
                "dekd: epochs of its defective teacher (0: --teacher_epochs)",
                replaces="teacher_epochs",
            ),
        )
    ),
)
