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
    # loss_weight: with weight decay, BLKD's loss scale changes what it learns (round 2's blkd_loss_weight5).
    knobs=("temperature", "alpha", "loss_weight"),
    study=StudyRole(compared_with=None),
)
