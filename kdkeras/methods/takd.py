"""Teacher-assistant KD (Mirzadeh et al. 2020): teacher -> assistants -> student, each link baseline KD."""

import dataclasses
from typing import Tuple

from kdkeras.methods.unit import LOGIT_MATCHING, Method, Requirement
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    assistants: Tuple[str, ...] = setting(
        (), "takd: assistant architectures, largest first, comma-separated", tune=Tune()
    )


def pipeline(run):
    """Teacher-assistant KD: teacher -> assistants (largest first) -> student, each link BLKD."""
    from kdkeras.pipelines.links import blkd_link, teacher_of

    config = run.config
    previous_role, previous = "teacher", teacher_of(run)
    for index, arch in enumerate(config.assistants, start=1):
        role = f"assistant{index}"
        previous = blkd_link(run, role, arch, previous, previous_role)
        previous_role = role
    blkd_link(run, "student", config.student, previous, previous_role)
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "takd",
    pipeline,
    teacher="trained",
    settings=Settings,
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha", "assistants"),
    requires=(Requirement("assistants", "takd needs at least one assistant, e.g. --assistants=resnet14"),),
)
