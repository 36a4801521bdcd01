"""Reversed KD (Yuan et al. 2020): the small model, trained first, teaches the large one."""

from kdkeras.methods.unit import LOGIT_MATCHING, Method


def pipeline(run):
    """Reversed KD: the small model, trained first, teaches the large one."""
    from kdkeras.pipelines.links import student_by_blkd

    return student_by_blkd(run, METHOD.teacher, run.config.teacher)


METHOD = Method("rekd", pipeline, teacher="student_copy", uses=LOGIT_MATCHING, knobs=("temperature", "alpha"))
