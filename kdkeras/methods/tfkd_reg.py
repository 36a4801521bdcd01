"""Teacher-free KD, regularisation (Yuan et al. 2020): a virtual teacher, no network trained as teacher."""

import dataclasses

from kdkeras import ranges
from kdkeras.methods.unit import Method
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    tfkd_correct_prob: float = setting(
        0.9,
        "tfkd_reg: the virtual teacher's probability of the true class",
        valid=ranges.TFKD_CORRECT_PROB,
        tune=Tune(0.9, 0.99),
    )


def pipeline(run):
    """Teacher-free KD (regularisation): a virtual teacher, no network trained as teacher."""
    from kdkeras.distillers import VirtualTeacherDistiller

    config = run.config

    def make(student):
        return VirtualTeacherDistiller(
            student, config.tfkd_correct_prob, config.temperature, config.alpha, loss_weight=config.loss_weight
        )

    run.distill("student", config.student, make, config.epochs, ["virtual_teacher"])
    return {"teacher": None, "student": "student"}


METHOD = Method(
    "tfkd_reg",
    pipeline,
    teacher="virtual",
    settings=Settings,
    uses=("temperature", "alpha", "loss_weight"),
    knobs=("temperature", "alpha", "tfkd_correct_prob"),
)
