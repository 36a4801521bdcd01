"""Baseline KD (Hinton et al. 2015): a trained teacher teaches the student."""

from kdkeras.methods.unit import LOGIT_MATCHING, Method, StudyRole


def pipeline(run):
    """Baseline KD (Hinton 2015): a trained teacher teaches the student."""
    from kdkeras.pipelines.links import student_by_blkd

    return student_by_blkd(run, METHOD.teacher)


METHOD = Method(
    "blkd",
    pipeline,
    teacher="trained",
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha"),
    study=StudyRole(compared_with=None),
)
