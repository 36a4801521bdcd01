"""Wise Student KD (this project): baseline KD plus a second, masked update on the teacher's errors."""

import dataclasses

from kdkeras import ranges
from kdkeras.methods.unit import LOGIT_MATCHING, Method
from kdkeras.settings import Tune, setting


@dataclasses.dataclass
class Settings:
    wskd_correction: str = setting(
        "lift",
        "wskd: soft-label correction, lift or swap",
        valid=ranges.WSKD_CORRECTIONS,
        tune=Tune(choices=ranges.WSKD_CORRECTIONS.choices),
    )
    wskd_margin: float = setting(
        1.0,
        "wskd lift: the true logit is raised to max + margin",
        valid=ranges.NON_NEGATIVE,
        tune=Tune(0.0, 5.0, only_if=("wskd_correction", "lift")),
    )
    wskd_beta: float = setting(
        0.5, "wskd: weight b of CE in the step-2 loss", valid=ranges.PROBABILITY, tune=Tune(0.0, 1.0)
    )
    wskd_step2_reduction: str = setting(
        "misclassified",
        "wskd: average the step-2 loss over the misclassified examples, or over the whole batch",
        valid=ranges.WSKD_STEP2_REDUCTIONS,
    )
    wskd_step2_forward: str = setting(
        "misclassified_own_statistics",
        "wskd: step 2 forwards only the teacher's errors, normalised with their own batch statistics "
        "(misclassified_own_statistics), with batch norm's moving statistics (misclassified) or step 1's batch "
        "statistics (misclassified_step1_statistics; these two blew up on CIFAR-10), or the whole batch with the loss "
        "masked to the errors (batch: the first study's, twice the cost)",
        valid=ranges.WSKD_STEP2_FORWARDS,
    )
    wskd_step2_regularization: str = setting(
        "once",
        "wskd: weight decay and batch norm's moving statistics act once per batch (in step 1), or twice "
        "(also in step 2, the behaviour of the first CIFAR-10 study)",
        valid=ranges.WSKD_STEP2_REGULARIZATIONS,
    )
    wskd_second_update: bool = setting(
        True, "wskd: the second update on the teacher's errors; false: their corrected labels in step 1 instead"
    )


def pipeline(run):
    """Wise Student KD: BLKD plus a second, masked update on the teacher's errors."""
    from kdkeras.distillers import WiseStudentDistiller
    from kdkeras.pipelines.links import frozen, logit_matching, teacher_of

    config = run.config
    teacher = teacher_of(run, METHOD.teacher)

    def make(student):
        return WiseStudentDistiller(
            student,
            teacher,
            beta=config.wskd_beta,
            correction=config.wskd_correction,
            margin=config.wskd_margin,
            step2_reduction=config.wskd_step2_reduction,
            step2_forward=config.wskd_step2_forward,
            step2_regularization=config.wskd_step2_regularization,
            second_update=config.wskd_second_update,
            **logit_matching(config),
        )

    run.distill("student", config.student, make, config.epochs, ["teacher"], frozen(teacher))
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "wskd",
    pipeline,
    teacher="trained",
    settings=Settings,
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha", "wskd_correction", "wskd_margin", "wskd_beta"),
)
