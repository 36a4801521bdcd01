"""Every KD method, described once: `MethodSpec`s registered by name.

A method's pipeline function (in `kdkeras.pipelines.methods`) carries its
spec through `@register(...)`: which fixed model teaches its first
distilled model, and which knobs a search varies. Every list other modules
need (the `--method` choices, the knobs `kdkeras.tune` searches, which
methods take `--teacher_checkpoint` or share a study's teacher) is derived
from here, so adding a method touches its pipeline, its distiller and
their tests.
"""

import dataclasses
from typing import Callable, Optional, Tuple

__all__ = ["Knob", "KNOBS", "MethodSpec", "register", "get", "names", "TEACHER_KINDS"]


@dataclasses.dataclass(frozen=True)
class Knob:
    """A distillation setting a search may vary: a `TrainConfig` field and its range.

    Args:
        name: the `TrainConfig` field (and flag) name.
        low, high, sampling: the range of a float knob (`"linear"` or `"log"`).
        choices: the values of a choice knob; `None` when they depend on the
            run (TAKD's assistant chains).
    """

    name: str
    low: Optional[float] = None
    high: Optional[float] = None
    sampling: str = "linear"
    choices: Optional[Tuple] = None

    @property
    def is_choice(self):
        return self.low is None


KNOBS = {
    knob.name: knob
    for knob in (
        Knob("temperature", 1.0, 20.0, "log"),
        Knob("alpha", 0.1, 0.99),
        Knob("wskd_correction", choices=("lift", "swap")),
        Knob("wskd_margin", 0.0, 5.0),
        Knob("wskd_beta", 0.0, 1.0),
        Knob("gskd_gamma", 0.0, 1.0),
        Knob("tfkd_correct_prob", 0.9, 0.99),
        Knob("assistants"),
    )
}

# What teaches a method's first distilled model:
#   none: nothing (the model learns from labels);
#   trained: a teacher trained on labels (--teacher, or --teacher_checkpoint);
#   defective: --teacher stopped early (or --teacher_checkpoint);
#   student_copy: a copy of --student trained on labels;
#   virtual: a hand-made distribution, no network.
TEACHER_KINDS = ("none", "trained", "defective", "student_copy", "virtual")


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One KD method.

    Args:
        name: the `--method` value.
        pipeline: `pipeline(run) -> roles`, the trainings the method makes.
        teacher: what teaches its first distilled model (`TEACHER_KINDS`).
        knobs: names of the `KNOBS` a search varies.
        summary: one line for help texts (the pipeline's docstring's first line).
    """

    name: str
    pipeline: Callable
    teacher: str
    knobs: Tuple[str, ...]
    summary: str = ""

    @property
    def takes_teacher_checkpoint(self):
        """Whether `--teacher_checkpoint` replaces the teacher this method would train."""
        return self.teacher in ("trained", "defective")

    @property
    def learns_from_trained_teacher(self):
        """Whether any well-trained `--teacher` serves it, so a study can share one."""
        return self.teacher == "trained"


_SPECS = {}


def register(teacher, knobs=()):
    """Decorator registering a pipeline function as the method of its name."""
    if teacher not in TEACHER_KINDS:
        raise ValueError(f"teacher must be one of {', '.join(TEACHER_KINDS)}, got {teacher!r}")
    for knob in knobs:
        if knob not in KNOBS:
            raise ValueError(f"unknown knob {knob!r}; expected names from {', '.join(KNOBS)}")

    def decorate(pipeline):
        summary = (pipeline.__doc__ or "").strip().splitlines()[0] if pipeline.__doc__ else ""
        _SPECS[pipeline.__name__] = MethodSpec(pipeline.__name__, pipeline, teacher, tuple(knobs), summary)
        return pipeline

    return decorate


def get(name):
    """The `MethodSpec` of `--method=name`."""
    if name not in _SPECS:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(_SPECS)}")
    return _SPECS[name]


def names():
    """The registered methods, in registration order."""
    return tuple(_SPECS)
