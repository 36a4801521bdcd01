"""Growing Student KD (this project): students of growing size, each taught by the teacher and the previous stage."""

import dataclasses
from typing import Tuple

from kdkeras import ranges
from kdkeras.errors import UsageError
from kdkeras.methods.unit import LOGIT_MATCHING, Method, Requirement
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    stages: Tuple[str, ...] = setting(
        (), "gskd: student architectures, smallest first, comma-separated", architectures=True
    )
    grow_to_teacher: bool = setting(False, "gskd: add the teacher's architecture as the last stage (a new teacher)")
    gskd_gamma: float = setting(
        0.5, "gskd: weight g of the KL term to the previous stage", valid=ranges.NON_NEGATIVE, tune=Tune(0.0, 1.0)
    )


def check_growing(run, stages):
    """Raises `UsageError` unless `stages` grow strictly in parameter count."""
    from kdkeras import models

    info = run.splits.info
    sizes = [models.count_params(models.get(a, info.input_shape, info.num_classes)) for a in stages]
    for (small, small_size), (large, large_size) in zip(zip(stages, sizes), zip(stages[1:], sizes[1:])):
        if large_size <= small_size:
            raise UsageError(
                f"--stages={','.join(stages)}: stages must grow in size, smallest first, "
                f"but {large} ({large_size} parameters) follows {small} ({small_size})"
            )


def pipeline(run):
    """Growing Student KD: stage 1 by BLKD, each larger stage from teacher and previous stage."""
    from kdkeras.distillers import GrowingStudentDistiller
    from kdkeras.pipelines.links import blkd_link, frozen, logit_matching, teacher_of

    config = run.config
    stages = list(config.stages)
    if config.grow_to_teacher and stages[-1] != config.teacher:
        stages.append(config.teacher)
    check_growing(run, stages)
    teacher = teacher_of(run, METHOD.teacher)
    previous = blkd_link(run, "stage1", stages[0], teacher)
    for index, arch in enumerate(stages[1:], start=2):
        earlier = previous

        def make(student, earlier=earlier):
            return GrowingStudentDistiller(student, teacher, earlier, gamma=config.gskd_gamma, **logit_matching(config))

        previous = run.distill(
            f"stage{index}", arch, make, config.epochs, ["teacher", f"stage{index - 1}"], frozen(teacher, earlier)
        )
    roles = {"teacher": "teacher", "student": f"stage{len(stages)}"}
    if config.grow_to_teacher:
        roles["new_teacher"] = f"stage{len(stages)}"
    return roles


METHOD = Method(
    "gskd",
    pipeline,
    teacher="trained",
    settings=Settings,
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha", "gskd_gamma"),
    requires=(Requirement("stages", "gskd needs at least one stage, e.g. --stages=resnet8,resnet14"),),
)
