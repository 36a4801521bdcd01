"""Teacher-free KD, self (Yuan et al. 2020): a trained copy of the student's architecture teaches it."""

from kdkeras.methods.unit import LOGIT_MATCHING, Method


def pipeline(run):
    """Teacher-free KD (self): a trained copy of the student's architecture teaches it."""
    from kdkeras.pipelines.links import student_by_blkd

    return student_by_blkd(run, METHOD.teacher)


METHOD = Method("tfkd_self", pipeline, teacher="student_copy", uses=LOGIT_MATCHING, knobs=("temperature", "alpha"))
