"""The settings of one training run, apart from the code that runs it.

`TrainConfig` is what `python -m kdkeras.train` builds from its absl flags;
tools (comparison, tuning) build it directly. `validate()` turns every
out-of-range value into a `UsageError` naming the flag.
"""

import dataclasses

from kdkeras import models
from kdkeras.errors import check
from kdkeras.losses import CORRECTIONS

METHODS = ("nokd", "blkd", "takd", "rekd", "dekd", "tfkd_self", "tfkd_reg", "wskd", "gskd")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
TEACHER_CACHE = ("auto", "on", "off")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; the field names are the flag names."""

    method: str = "blkd"
    dataset: str = "mnist_sample"
    data_dir: str = None
    output_dir: str = "runs/blkd"
    teacher: str = "resnet26"
    teacher_checkpoint: str = None
    student: str = "resnet8"
    assistants: tuple = ()
    stages: tuple = ()
    grow_to_teacher: bool = False
    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int = 10
    teacher_epochs: int = 10
    defective_teacher_accuracy: float = None
    batch_size: int = 128
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "cosine"
    augment: bool = False
    seed: int = 0
    validation_fraction: float = 0.0
    wskd_correction: str = "lift"
    wskd_margin: float = 1.0
    wskd_beta: float = 0.5
    wskd_step2_reduction: str = "misclassified"
    gskd_gamma: float = 0.5
    tfkd_correct_prob: float = 0.9
    strategy: str = "auto"
    tpu: str = None
    mixed_precision: bool = False
    jit_compile: bool = False
    steps_per_execution: int = 1
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    teacher_cache: str = "auto"
    export: tuple = ()
    verbose: int = 1

    def validate(self):
        """Raises `UsageError` for the first setting that cannot be used."""
        check(self.method in METHODS, f"--method={self.method}: expected one of {', '.join(METHODS)}")
        for flag in ("teacher", "student"):
            arch = getattr(self, flag)
            check(arch in models.names(), f"--{flag}={arch}: expected one of {', '.join(models.names())}")
        for flag in ("assistants", "stages"):
            for arch in getattr(self, flag):
                check(arch in models.names(), f"--{flag}: {arch!r} is not an architecture; expected names from {', '.join(models.names())}")
        check(self.temperature > 0, f"--temperature={self.temperature}: expected a value > 0")
        check(0.0 <= self.alpha <= 1.0, f"--alpha={self.alpha}: expected a value in [0, 1]")
        check(self.epochs >= 1, f"--epochs={self.epochs}: expected an integer >= 1")
        check(self.teacher_epochs >= 1, f"--teacher_epochs={self.teacher_epochs}: expected an integer >= 1")
        check(self.batch_size >= 1, f"--batch_size={self.batch_size}: expected an integer >= 1")
        check(self.optimizer in OPTIMIZERS, f"--optimizer={self.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
        check(self.learning_rate > 0, f"--learning_rate={self.learning_rate}: expected a value > 0")
        check(0.0 <= self.momentum < 1.0, f"--momentum={self.momentum}: expected a value in [0, 1)")
        check(self.weight_decay >= 0, f"--weight_decay={self.weight_decay}: expected a value >= 0")
        check(self.lr_schedule in SCHEDULES, f"--lr_schedule={self.lr_schedule}: expected one of {', '.join(SCHEDULES)}")
        check(0.0 <= self.validation_fraction < 1.0, f"--validation_fraction={self.validation_fraction}: expected a value in [0, 1)")
        check(self.wskd_correction in CORRECTIONS, f"--wskd_correction={self.wskd_correction}: expected one of {', '.join(CORRECTIONS)}")
        check(self.wskd_margin >= 0, f"--wskd_margin={self.wskd_margin}: expected a value >= 0")
        check(0.0 <= self.wskd_beta <= 1.0, f"--wskd_beta={self.wskd_beta}: expected a value in [0, 1]")
        check(
            self.wskd_step2_reduction in ("misclassified", "batch"),
            f"--wskd_step2_reduction={self.wskd_step2_reduction}: expected misclassified or batch",
        )
        check(self.gskd_gamma >= 0, f"--gskd_gamma={self.gskd_gamma}: expected a value >= 0")
        check(0.9 <= self.tfkd_correct_prob < 1.0, f"--tfkd_correct_prob={self.tfkd_correct_prob}: expected a value in [0.9, 1)")
        if self.defective_teacher_accuracy is not None:
            check(0.0 < self.defective_teacher_accuracy < 1.0, f"--defective_teacher_accuracy={self.defective_teacher_accuracy}: expected a fraction in (0, 1)")
        check(self.strategy in STRATEGIES, f"--strategy={self.strategy}: expected one of {', '.join(STRATEGIES)}")
        check(self.teacher_cache in TEACHER_CACHE, f"--teacher_cache={self.teacher_cache}: expected one of {', '.join(TEACHER_CACHE)}")
        check(
            not (self.teacher_cache == "on" and self.augment),
            "--teacher_cache=on: with --augment the teacher's input changes every epoch, so its logits cannot be cached; use auto or off",
        )
        check(self.steps_per_execution >= 1, f"--steps_per_execution={self.steps_per_execution}: expected an integer >= 1")
        check(self.intra_op_threads >= 0 and self.inter_op_threads >= 0, "--intra_op_threads, --inter_op_threads: expected integers >= 0 (0: TensorFlow's default)")
        check(self.verbose in (0, 1, 2), f"--verbose={self.verbose}: expected 0, 1 or 2")
        if self.method == "gskd":
            check(len(self.stages) >= 1, "--stages: gskd needs at least one stage, e.g. --stages=resnet8,resnet14")
        if self.method == "takd":
            check(len(self.assistants) >= 1, "--assistants: takd needs at least one assistant, e.g. --assistants=resnet14")
        check(bool(self.output_dir), "--output_dir: expected a directory")
        if self.export:
            from edge import QUANTIZATIONS

            for mode in self.export:
                check(mode in QUANTIZATIONS, f"--export: {mode!r} is not a mode; expected names from {', '.join(QUANTIZATIONS)}")
        return self

    def as_dict(self):
        """The settings as JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
