"""Each KD method as the sequence of trainings it makes (README.md, "The methods").

A method is a function `method(run) -> dict` that trains its models through
`run` (a `kdkeras.pipelines.run.Run`) and returns the roles of the models
the results should name: `{"teacher": role, "student": role}` and extras.
`@register` records what it is (`kdkeras.pipelines.registry`).
"""

from kdkeras import models
from kdkeras.distillers import Distiller, GrowingStudentDistiller, VirtualTeacherDistiller, WiseStudentDistiller
from kdkeras.distillers.distiller import TEACHER_LOGITS
from kdkeras.distillers.growing_student_distiller import PREVIOUS_LOGITS
from kdkeras.errors import UsageError
from kdkeras.pipelines.registry import get, register


def _frozen(teacher, previous=None):
    """The frozen models whose logits a distiller may take from a cache."""
    frozen = {TEACHER_LOGITS: teacher}
    if previous is not None:
        frozen[PREVIOUS_LOGITS] = previous
    return frozen


_COMMON = ("temperature", "alpha")


def teacher_of(run):
    """The fixed model that teaches the method's first distilled model (`MethodSpec.teacher`), or None.

    Trained (or loaded, when finished or given as `--teacher_checkpoint`)
    as the role `teacher`.
    """
    config = run.config
    kind = get(config.method).teacher
    if kind == "trained" or (kind == "defective" and config.teacher_checkpoint):
        return run.teacher()
    if kind == "defective":
        return run.train_plain(
            "teacher", config.teacher, config.teacher_epochs, stop_at_accuracy=config.defective_teacher_accuracy
        )
    if kind == "student_copy":
        return run.train_plain("teacher", config.student, config.teacher_epochs)
    return None


def _blkd(run, teacher):
    config = run.config
    return lambda student: Distiller(student, teacher, config.temperature, config.alpha)


def _blkd_link(run, role, arch, teacher, teacher_role="teacher"):
    """Trains `arch` as `role` by baseline KD from the fixed `teacher`."""
    return run.distill(role, arch, _blkd(run, teacher), run.config.epochs, [teacher_role], _frozen(teacher))


@register(teacher="none")
def nokd(run):
    """The student alone, on the labels: the baseline every method must beat."""
    run.train_plain("student", run.config.student, run.config.epochs)
    return {"teacher": None, "student": "student"}


@register(teacher="trained", knobs=_COMMON)
def blkd(run):
    """Baseline KD (Hinton 2015): a trained teacher teaches the student."""
    _blkd_link(run, "student", run.config.student, teacher_of(run))
    return {"teacher": "teacher", "student": "student"}


@register(teacher="trained", knobs=_COMMON + ("assistants",))
def takd(run):
    """Teacher-assistant KD: teacher -> assistants (largest first) -> student, each link BLKD."""
    config = run.config
    previous_role, previous = "teacher", teacher_of(run)
    for index, arch in enumerate(config.assistants, start=1):
        role = f"assistant{index}"
        previous = _blkd_link(run, role, arch, previous, previous_role)
        previous_role = role
    _blkd_link(run, "student", config.student, previous, previous_role)
    return {"teacher": "teacher", "student": "student"}


@register(teacher="student_copy", knobs=_COMMON)
def rekd(run):
    """Reversed KD: the small model, trained first, teaches the large one."""
    config = run.config
    _blkd_link(run, "student", config.teacher, teacher_of(run))
    return {"teacher": "teacher", "student": "student"}


@register(teacher="defective", knobs=_COMMON)
def dekd(run):
    """Defective KD: a teacher stopped early teaches the student."""
    _blkd_link(run, "student", run.config.student, teacher_of(run))
    return {"teacher": "teacher", "student": "student"}


@register(teacher="student_copy", knobs=_COMMON)
def tfkd_self(run):
    """Teacher-free KD (self): a trained copy of the student's architecture teaches it."""
    _blkd_link(run, "student", run.config.student, teacher_of(run))
    return {"teacher": "teacher", "student": "student"}


@register(teacher="virtual", knobs=_COMMON + ("tfkd_correct_prob",))
def tfkd_reg(run):
    """Teacher-free KD (regularisation): a virtual teacher, no network trained as teacher."""
    config = run.config

    def make(student):
        return VirtualTeacherDistiller(student, config.tfkd_correct_prob, config.temperature, config.alpha)

    run.distill("student", config.student, make, config.epochs, ["virtual_teacher"])
    return {"teacher": None, "student": "student"}


@register(teacher="trained", knobs=_COMMON + ("wskd_correction", "wskd_margin", "wskd_beta"))
def wskd(run):
    """Wise Student KD: BLKD plus a second, masked update on the teacher's errors."""
    config = run.config
    teacher = teacher_of(run)

    def make(student):
        return WiseStudentDistiller(
            student,
            teacher,
            config.temperature,
            config.alpha,
            beta=config.wskd_beta,
            correction=config.wskd_correction,
            margin=config.wskd_margin,
            step2_reduction=config.wskd_step2_reduction,
            second_update=config.wskd_second_update,
        )

    run.distill("student", config.student, make, config.epochs, ["teacher"], _frozen(teacher))
    return {"teacher": "teacher", "student": "student"}


def check_growing(run, stages):
    """Raises `UsageError` unless `stages` grow strictly in parameter count."""
    info = run.splits.info
    sizes = [models.count_params(models.get(a, info.input_shape, info.num_classes)) for a in stages]
    for (small, small_size), (large, large_size) in zip(zip(stages, sizes), zip(stages[1:], sizes[1:])):
        if large_size <= small_size:
            raise UsageError(
                f"--stages={','.join(stages)}: stages must grow in size, smallest first, "
                f"but {large} ({large_size} parameters) follows {small} ({small_size})"
            )


@register(teacher="trained", knobs=_COMMON + ("gskd_gamma",))
def gskd(run):
    """Growing Student KD: stage 1 by BLKD, each larger stage from teacher and previous stage."""
    config = run.config
    stages = list(config.stages)
    if config.grow_to_teacher and stages[-1] != config.teacher:
        stages.append(config.teacher)
    check_growing(run, stages)
    teacher = teacher_of(run)
    previous = _blkd_link(run, "stage1", stages[0], teacher)
    for index, arch in enumerate(stages[1:], start=2):
        earlier = previous

        def make(student, earlier=earlier):
            return GrowingStudentDistiller(
                student, teacher, earlier, config.temperature, config.alpha, gamma=config.gskd_gamma
            )

        previous = run.distill(
            f"stage{index}", arch, make, config.epochs, ["teacher", f"stage{index - 1}"], _frozen(teacher, earlier)
        )
    roles = {"teacher": "teacher", "student": f"stage{len(stages)}"}
    if config.grow_to_teacher:
        roles["new_teacher"] = f"stage{len(stages)}"
    return roles
