"""Teacher-assistant KD (Mirzadeh et al. 2020): teacher -> assistants -> student, each link baseline KD."""

import dataclasses
from typing import Tuple

from kdkeras.methods.unit import LOGIT_MATCHING, Method, Requirement
from kdkeras.settings import Tune, setting


def assistant_candidates(config, info, given=()):
    """takd's candidate assistant chains: `given`, else `--assistants` and every
    architecture of the teacher's or student's family strictly between them in size.

    A family is a registry name without its depth (`resnet` for resnet8 to
    resnet110, `plain` for plain2 to plain10); the Keras Applications
    families (`kdkeras.models.applications.FAMILIES`) are named alone, so
    ResNet50 is no member of the CIFAR ResNets' family.
    """
    if given:
        return [",".join(chain) for chain in given]
    from kdkeras import models
    from kdkeras.models.applications import FAMILIES

    def family(arch):
        return arch.rstrip("0123456789")

    def size(arch):
        return models.count_params(models.get(arch, info.input_shape, info.num_classes))

    candidates = [",".join(config.assistants)]
    low, high = size(config.student), size(config.teacher)
    families = {family(config.teacher), family(config.student)}
    for arch in models.names():
        if arch in FAMILIES or family(arch) not in families or arch in candidates:
            continue
        if low < size(arch) < high:
            candidates.append(arch)
    return candidates


@dataclasses.dataclass
class Settings:
    assistants: Tuple[str, ...] = setting(
        (),
        "takd: assistant architectures, largest first, comma-separated",
        architectures=True,
        tune=Tune(candidates=assistant_candidates),
    )


def pipeline(run):
    """Teacher-assistant KD: teacher -> assistants (largest first) -> student, each link BLKD."""
    from kdkeras.pipelines.links import blkd_link, teacher_of

    config = run.config
    previous_role, previous = "teacher", teacher_of(run, METHOD.teacher)
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
