"""No KD: the student alone on the labels, the baseline every method must beat."""

from kdkeras.methods.unit import Method, StudyRole


def pipeline(run):
    """The student alone, on the labels: the baseline every method must beat."""
    run.train_plain("student", run.config.student, run.config.epochs, loss_weight=run.config.loss_weight)
    return {"teacher": None, "student": "student"}


# loss_weight: the control for a distiller's loss scale (round 2's nokd_loss_weight5 against blkd_loss_weight5).
METHOD = Method("nokd", pipeline, teacher="none", uses=("loss_weight",), study=StudyRole(compared_with=None))
