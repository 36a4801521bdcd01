"""The pieces method pipelines are made of: who teaches, a baseline-KD link, the frozen models to cache.

Each method unit (`kdkeras.methods`) writes its pipeline from these and the
`Run` calls (`train_plain`, `distill`), so what several methods share is
written once.
"""

from kdkeras.distillers import Distiller
from kdkeras.distillers.distiller import TEACHER_LOGITS
from kdkeras.distillers.growing_student_distiller import PREVIOUS_LOGITS

__all__ = ["teacher_of", "frozen", "blkd_distiller", "blkd_link", "student_by_blkd", "logit_matching"]


def logit_matching(config):
    """The shared logit-matching settings as distiller keyword arguments."""
    return dict(
        temperature=config.temperature,
        alpha=config.alpha,
        loss_weight=config.loss_weight,
        logit_standardization=config.logit_standardization,
        teacher_correction=config.teacher_correction,
    )


def frozen(teacher, previous=None):
    """The frozen models whose logits a distiller may take from a cache."""
    found = {TEACHER_LOGITS: teacher}
    if previous is not None:
        found[PREVIOUS_LOGITS] = previous
    return found


def teacher_of(run, kind):
    """The fixed model that teaches the method's first distilled model, or None.

    `kind` is the method's `Method.teacher` (`kdkeras.methods.unit.TEACHER_KINDS`). The model is trained (or
    loaded, when finished or given as `--teacher_checkpoint`) as the role `teacher`.
    """
    config = run.config
    if kind == "trained" or (kind == "defective" and config.teacher_checkpoint):
        return run.teacher()
    if kind == "defective":
        return run.train_plain(
            "teacher", config.teacher, config.teacher_epochs, stop_at_accuracy=config.defective_teacher_accuracy
        )
    if kind == "student_copy":
        return run.train_plain("teacher", config.student, config.teacher_epochs)
    return None


def blkd_distiller(run, teacher):
    """`make_distiller` for baseline KD from `teacher`."""
    settings = logit_matching(run.config)
    return lambda student: Distiller(student, teacher, **settings)


def blkd_link(run, role, arch, teacher, teacher_role="teacher"):
    """Trains `arch` as `role` by baseline KD from the fixed `teacher`."""
    return run.distill(role, arch, blkd_distiller(run, teacher), run.config.epochs, [teacher_role], frozen(teacher))


def student_by_blkd(run, kind, arch=None):
    """Trains `arch` (default `--student`) as the role `student` by baseline KD from the method's teacher of
    `kind` (`teacher_of`).

    The whole pipeline of BLKD and of the methods that change only who
    teaches (De-KD, Tf-KD self) or which network learns (Re-KD).
    """
    blkd_link(run, "student", arch or run.config.student, teacher_of(run, kind))
    return {"teacher": "teacher", "student": "student"}
