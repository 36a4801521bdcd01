"""What a KD method is, as data: its settings, its pipeline, what it needs and its role in a study.

A method unit is one file in `kdkeras.methods` that builds a `Method`. The
flat flags of `kdkeras.train`, their validation, keras-tuner's search space
and a study's plan are all derived from the units, so adding a method is
its unit, its distiller (when it needs its own `train_step`), its losses,
its tests and its flagfiles. This module imports no TensorFlow: a unit's
pipeline imports what trains only when it runs.
"""

import dataclasses
from typing import Callable, Optional, Tuple

from kdkeras import ranges
from kdkeras.settings import Tune, setting

__all__ = ["Method", "StudyRole", "StudyFlag", "Requirement", "LogitMatching", "TEACHER_KINDS", "LOGIT_MATCHING"]

# What teaches a method's first distilled model:
#   none: nothing (the model learns from labels);
#   trained: a teacher trained on labels (--teacher, or --teacher_checkpoint);
#   defective: --teacher stopped early (or --teacher_checkpoint);
#   student_copy: a copy of --student trained on labels;
#   virtual: a hand-made distribution, no network.
TEACHER_KINDS = ("none", "trained", "defective", "student_copy", "virtual")


@dataclasses.dataclass
class LogitMatching:
    """The settings every method that matches a teacher's softened logits shares."""

    temperature: float = setting(4.0, "softmax temperature T > 0", valid=ranges.POSITIVE, tune=Tune(1.0, 20.0, "log"))
    alpha: float = setting(
        0.9, "weight of the KD term (the CE term has 1 - alpha)", valid=ranges.PROBABILITY, tune=Tune(0.1, 0.99)
    )
    logit_standardization: bool = setting(
        False,
        "z-score each example's teacher and student logits before the temperature softmax (Sun et al., CVPR "
        "2024), in every logit-matching term of the method",
    )
    loss_weight: float = setting(
        1.0,
        "multiplies the method's loss (1 - alpha) CE + alpha T^2 KL (NOKD's CE), not the weight decay: papers with "
        "absolute weights need it (the logit-standardization authors' CE 1 + KD 9 is alpha 0.9 with loss_weight 10)",
        valid=ranges.POSITIVE,
        tune=Tune(1.0, 10.0, "log"),
    )
    teacher_correction: str = setting(
        "none",
        "on the examples the teacher gets wrong, its logits corrected as WSKD corrects them (lift: the true logit "
        "raised 1 above the top one; swap: the two exchanged) in every term that matches the teacher's logits",
        valid=ranges.TEACHER_CORRECTIONS,
    )


LOGIT_MATCHING = tuple(f.name for f in dataclasses.fields(LogitMatching))


@dataclasses.dataclass(frozen=True)
class StudyFlag:
    """A study-wide flag a method owns: when set (non-zero), it replaces a `TrainConfig` field in the method's runs.

    De-KD's `--dekd_teacher_epochs` gives its defective teacher fewer epochs
    than the study's shared teacher gets.
    """

    name: str
    default: int
    help: str
    replaces: str


@dataclasses.dataclass(frozen=True)
class StudyRole:
    """How a study treats a method.

    Args:
        compared_with: the method its paired difference is reported against
            (`None` for the baselines themselves).
        flags: its `StudyFlag`s.
        shares_teacher: set from the method's teacher kind: whether any
            well-trained `--teacher` serves it, so a study trains one and
            passes it to every such method as `--teacher_checkpoint`.
    """

    compared_with: Optional[str] = "blkd"
    flags: Tuple[StudyFlag, ...] = ()
    shares_teacher: bool = False


@dataclasses.dataclass(frozen=True)
class Requirement:
    """A setting the method cannot run without (a non-empty list), and the line that says so."""

    setting: str
    message: str


@dataclasses.dataclass(frozen=True)
class Method:
    """One KD method.

    Args:
        name: the `--method` value.
        pipeline: `pipeline(run) -> roles`, the trainings the method makes
            through a `kdkeras.pipelines.Run`; it imports what it trains with.
        teacher: what teaches its first distilled model (`TEACHER_KINDS`).
        settings: the dataclass of the settings it alone owns (their field
            names are flag names), or None.
        uses: the shared settings it reads besides its own (`LOGIT_MATCHING`).
        knobs: the settings a search varies, its own or shared.
        requires: `Requirement`s checked before anything trains.
        study: its `StudyRole`.
        summary: one line for help texts; the pipeline's docstring's first
            line when empty.
    """

    name: str
    pipeline: Callable
    teacher: str
    settings: Optional[type] = None
    uses: Tuple[str, ...] = ()
    knobs: Tuple[str, ...] = ()
    requires: Tuple[Requirement, ...] = ()
    study: StudyRole = StudyRole()
    summary: str = ""

    def __post_init__(self):
        if self.teacher not in TEACHER_KINDS:
            raise ValueError(f"{self.name}: teacher must be one of {', '.join(TEACHER_KINDS)}, got {self.teacher!r}")
        unknown = [k for k in self.knobs if k not in self.setting_names]
        if unknown:
            raise ValueError(f"{self.name}: knobs {unknown} are not among its settings {self.setting_names}")
        object.__setattr__(self, "study", dataclasses.replace(self.study, shares_teacher=self.teacher == "trained"))
        if not self.summary and self.pipeline.__doc__:
            object.__setattr__(self, "summary", self.pipeline.__doc__.strip().splitlines()[0])

    @property
    def own_settings(self):
        """Names of the settings this method alone owns."""
        return tuple(f.name for f in dataclasses.fields(self.settings)) if self.settings else ()

    @property
    def setting_names(self):
        """Names of every setting the method reads beyond the recipe: shared ones, then its own."""
        return tuple(self.uses) + self.own_settings

    @property
    def takes_teacher_checkpoint(self):
        """Whether `--teacher_checkpoint` replaces the teacher this method would train."""
        return self.teacher in ("trained", "defective")

    @property
    def learns_from_trained_teacher(self):
        """Whether any well-trained `--teacher` serves it, so a study can share one."""
        return self.study.shares_teacher
