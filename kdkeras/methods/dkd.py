"""Decoupled KD (Zhao et al., CVPR 2022): target-class and non-target-class KD with weights of their own."""

import dataclasses

from kdkeras import ranges
from kdkeras.methods.unit import Method
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    dkd_alpha: float = setting(
        1.0, "dkd: weight of the target-class term (TCKD)", valid=ranges.NON_NEGATIVE, tune=Tune(0.0, 2.0)
    )
    dkd_beta: float = setting(
        8.0, "dkd: weight of the non-target-class term (NCKD)", valid=ranges.NON_NEGATIVE, tune=Tune(0.5, 16.0, "log")
    )
    dkd_ce_weight: float = setting(1.0, "dkd: weight of the cross-entropy to the labels", valid=ranges.NON_NEGATIVE)
    dkd_warmup_fraction: float = setting(
        20 / 240,
        "dkd: share of training over which the DKD weight rises linearly from 0 (the authors: 20 of 240 epochs)",
        valid=ranges.FRACTION_OPEN,
        tune=Tune(0.0, 0.5),
    )


def pipeline(run):
    """Decoupled KD: TCKD and NCKD weighted apart, the KD weight warmed up over a share of training."""
    from kdkeras.distillers import DecoupledDistiller
    from kdkeras.pipelines.links import frozen, teacher_of

    config = run.config
    teacher = teacher_of(run, METHOD.teacher)
    warmup_steps = round(config.dkd_warmup_fraction * config.epochs * run.steps_per_epoch)

    def make(student):
        return DecoupledDistiller(
            student,
            teacher,
            temperature=config.temperature,
            alpha=config.dkd_alpha,
            beta=config.dkd_beta,
            ce_weight=config.dkd_ce_weight,
            warmup_steps=warmup_steps,
            logit_standardization=config.logit_standardization,
            teacher_correction=config.teacher_correction,
        )

    run.distill("student", config.student, make, config.epochs, ["teacher"], frozen(teacher))
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "dkd",
    pipeline,
    teacher="trained",
    settings=Settings,
    uses=("temperature", "logit_standardization", "teacher_correction"),
    knobs=("temperature", "dkd_alpha", "dkd_beta", "dkd_warmup_fraction"),
)
