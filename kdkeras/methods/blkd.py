"""Baseline KD (Hinton et al. 2015): a trained teacher teaches the student."""

from kdkeras.methods.unit import LOGIT_MATCHING, Method, StudyRole


def pipeline(run):
    """Baseline KD (Hinton 2015): a trained teacher teaches the student."""
    from kdkeras.pipelines.links import blkd_link, teacher_of

    blkd_link(run, "student", run.config.student, teacher_of(run))
    return {"teacher": "teacher", "student": "student"}


METHOD = Method(
    "blkd",
    pipeline,
    teacher="trained",
    uses=LOGIT_MATCHING,
    knobs=("temperature", "alpha"),
    study=StudyRole(compared_with=None),
)
