"""No KD: the student alone on the labels, the baseline every method must beat."""

from kdkeras.methods.unit import Method, StudyRole


def pipeline(run):
    """The student alone, on the labels: the baseline every method must beat."""
    run.train_plain("student", run.config.student, run.config.epochs)
    return {"teacher": None, "student": "student"}


METHOD = Method("nokd", pipeline, teacher="none", study=StudyRole(compared_with=None))
