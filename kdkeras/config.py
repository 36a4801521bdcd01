"""The settings of one training run, apart from the code that runs it.

`TrainConfig` is the one description of a run: every field is a flag of
`python -m kdkeras.train` (with its type, default and help from here), a
key of `results.json["flags"]`, and a line of a flagfile (`to_flagfile`).
Tools (comparison, tuning) build it directly or through `define_flags` and
`from_flags`. `validate()` turns every out-of-range value into a
`UsageError` naming the flag.
"""

import dataclasses
import typing
from typing import Optional, Tuple

from kdkeras import models
from kdkeras.errors import UsageError, check
from kdkeras.losses import CORRECTIONS
from kdkeras.optimizers import SCHEDULES, WEIGHT_DECAY_MODES
from kdkeras.pipelines import METHODS

__all__ = ["TrainConfig", "define_flags", "from_flags", "to_flagfile", "NOT_SEMANTIC", "METHODS"]

OPTIMIZERS = ("sgd", "adam")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
TEACHER_CACHE = ("auto", "on", "off")
STEP2_REDUCTIONS = ("misclassified", "batch")


def _field(default, help, semantic=True, model_key=None):
    """A setting: its default, its help text, whether it changes what is trained, and its part of a model's key.

    `model_key` is `"data"` or `"recipe"` for the settings that determine every
    model a run trains (what it learns from, and how it is optimised); a
    model's key (the model store's) is derived from exactly those, plus the
    model's architecture, epochs and what teaches it.
    """
    return dataclasses.field(default=default, metadata={"help": help, "semantic": semantic, "model_key": model_key})


def _check_arch(where, spec):
    """Raises `UsageError` unless `spec` names an architecture and options it takes."""
    try:
        models.parse(spec)
    except KeyError:
        hint = " (in a comma-separated list, separate options with ':', e.g. mobilenet_v3_small:alpha=0.5:input=96)"
        raise UsageError(
            f"{where}: not an architecture; expected one of {', '.join(models.names())}" + (hint if "=" in spec else "")
        ) from None
    except ValueError as error:
        raise UsageError(f"{where}: {error}") from None


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; the field names are the flag names."""

    method: str = _field("blkd", "KD method: " + ", ".join(METHODS))
    dataset: str = _field(
        "mnist_sample",
        "mnist_sample (embedded), mnist, cifar10, cifar100 (tensorflow-datasets) or imagefolder:PATH",
        model_key="data",
    )
    data_dir: Optional[str] = _field(
        None, "tensorflow-datasets data directory (default: TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    output_dir: str = _field("runs/blkd", "where models, logs and results.json go", semantic=False)
    teacher: str = _field(
        "resnet26", "teacher architecture (see kdkeras.models.names()), options after ':', e.g. convnext_tiny:input=224"
    )
    teacher_checkpoint: Optional[str] = _field(
        None, "a trained teacher .keras file; when empty, the teacher is trained first"
    )
    student: str = _field("resnet8", "student architecture, e.g. resnet8 or mobilenet_v3_small:alpha=0.75,input=96")
    assistants: Tuple[str, ...] = _field((), "takd: assistant architectures, largest first, comma-separated")
    stages: Tuple[str, ...] = _field((), "gskd: student architectures, smallest first, comma-separated")
    grow_to_teacher: bool = _field(False, "gskd: add the teacher's architecture as the last stage (a new teacher)")
    temperature: float = _field(4.0, "softmax temperature T > 0")
    alpha: float = _field(0.9, "weight of the KD term (the CE term has 1 - alpha)")
    epochs: int = _field(10, "epochs of every distilled model")
    teacher_epochs: int = _field(10, "epochs of a teacher trained on labels (for dekd: the most it gets)")
    defective_teacher_accuracy: Optional[float] = _field(
        None, "dekd: stop the teacher at the first epoch whose training accuracy reaches this"
    )
    batch_size: int = _field(128, "global batch size", model_key="recipe")
    optimizer: str = _field("sgd", "one of " + ", ".join(OPTIMIZERS), model_key="recipe")
    learning_rate: float = _field(0.1, "initial (peak, for onecycle) learning rate", model_key="recipe")
    momentum: float = _field(0.9, "SGD momentum (Nesterov)", model_key="recipe")
    weight_decay: float = _field(5e-4, "weight decay coefficient (0 for none)", model_key="recipe")
    weight_decay_mode: str = _field(
        "decoupled",
        "decoupled (Keras, subtracted from the weights) or l2 (added to the gradient, as torch.optim.SGD)",
        model_key="recipe",
    )
    lr_schedule: str = _field(
        "cosine", "learning-rate schedule over each model's epochs: " + ", ".join(SCHEDULES), model_key="recipe"
    )
    warmup_fraction: float = _field(
        0.15, "onecycle: share of the steps spent warming up from learning_rate/25", model_key="recipe"
    )
    augment: bool = _field(
        False, "random crop after 4-pixel padding and horizontal flip (CIFAR recipe)", model_key="data"
    )
    seed: int = _field(0, "random seed of weights, shuffling and augmentation", model_key="recipe")
    validation_fraction: float = _field(0.0, "share of the training split held out for validation", model_key="data")
    wskd_correction: str = _field("lift", "wskd: soft-label correction, " + " or ".join(CORRECTIONS))
    wskd_margin: float = _field(1.0, "wskd lift: the true logit is raised to max + margin")
    wskd_beta: float = _field(0.5, "wskd: weight b of CE in the step-2 loss")
    wskd_step2_reduction: str = _field(
        "misclassified", "wskd: average the step-2 loss over the misclassified examples, or over the whole batch"
    )
    wskd_second_update: bool = _field(
        True, "wskd: the second update on the teacher's errors; false: their corrected labels in step 1 instead"
    )
    gskd_gamma: float = _field(0.5, "gskd: weight g of the KL term to the previous stage")
    tfkd_correct_prob: float = _field(0.9, "tfkd_reg: the virtual teacher's probability of the true class")
    strategy: str = _field("auto", "tf.distribute strategy: " + ", ".join(STRATEGIES), semantic=False)
    tpu: Optional[str] = _field(None, "TPU address for --strategy=tpu", semantic=False)
    mixed_precision: bool = _field(False, "mixed_float16 on GPU, mixed_bfloat16 on TPU", model_key="recipe")
    jit_compile: bool = _field(False, "compile train steps with XLA (slower for CIFAR ResNets on CPUs)", semantic=False)
    steps_per_execution: int = _field(
        1,
        "training steps per call into TensorFlow (Keras compile); batch callbacks then run every N steps",
        semantic=False,
    )
    intra_op_threads: int = _field(0, "TensorFlow threads inside one op (0: one per core)", semantic=False)
    inter_op_threads: int = _field(0, "TensorFlow threads running ops side by side (0: one per core)", semantic=False)
    teacher_cache: str = _field(
        "auto",
        "frozen models' logits from an exact on-disk cache (with or without --augment): " + ", ".join(TEACHER_CACHE),
        semantic=False,
    )
    teacher_cache_dir: Optional[str] = _field(
        None, "where teacher caches live, shared by runs (default: OUTPUT_DIR/cache)", semantic=False
    )
    model_store: Optional[str] = _field(
        None,
        "a folder of finished models by what determines them; a run finds there a model another run trained "
        "(tools/compare.py sets it, so a study never trains the same model twice)",
        semantic=False,
    )
    export: Tuple[str, ...] = _field(
        (), "edge export modes after training, comma-separated (e.g. int8,float16)", semantic=False
    )
    edge_runtime: Tuple[str, ...] = _field(
        ("litert",),
        "runtimes measuring each --export file: litert, and tflm for TFLite Micro's accuracy, arena and flash",
        semantic=False,
    )
    mcu_ram_bytes: int = _field(
        0, "a microcontroller's RAM, held against the TFLM arena of each --export file (0: no budget)", semantic=False
    )
    mcu_flash_bytes: int = _field(
        0, "a microcontroller's flash, held against each --export file's bytes (0: no budget)", semantic=False
    )
    backup_every: str = _field(
        "5m",
        "how often a model in training is backed up, so a killed run loses at most that: minutes (5m), "
        "seconds (90s), batches (200) or epoch; a run started again resumes at the backup's batch",
        semantic=False,
    )
    verbose: int = _field(1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch", semantic=False)

    def validate(self):
        """Raises `UsageError` for the first setting that cannot be used."""
        check(self.method in METHODS, f"--method={self.method}: expected one of {', '.join(METHODS)}")
        for flag in ("teacher", "student"):
            _check_arch(f"--{flag}={getattr(self, flag)}", getattr(self, flag))
        for flag in ("assistants", "stages"):
            for arch in getattr(self, flag):
                _check_arch(f"--{flag}: {arch!r}", arch)
        check(self.temperature > 0, f"--temperature={self.temperature}: expected a value > 0")
        check(0.0 <= self.alpha <= 1.0, f"--alpha={self.alpha}: expected a value in [0, 1]")
        check(self.epochs >= 1, f"--epochs={self.epochs}: expected an integer >= 1")
        check(self.teacher_epochs >= 1, f"--teacher_epochs={self.teacher_epochs}: expected an integer >= 1")
        check(self.batch_size >= 1, f"--batch_size={self.batch_size}: expected an integer >= 1")
        check(self.optimizer in OPTIMIZERS, f"--optimizer={self.optimizer}: expected one of {', '.join(OPTIMIZERS)}")
        check(self.learning_rate > 0, f"--learning_rate={self.learning_rate}: expected a value > 0")
        check(0.0 <= self.momentum < 1.0, f"--momentum={self.momentum}: expected a value in [0, 1)")
        check(self.weight_decay >= 0, f"--weight_decay={self.weight_decay}: expected a value >= 0")
        check(
            self.weight_decay_mode in WEIGHT_DECAY_MODES,
            f"--weight_decay_mode={self.weight_decay_mode}: expected one of {', '.join(WEIGHT_DECAY_MODES)}",
        )
        check(
            self.lr_schedule in SCHEDULES, f"--lr_schedule={self.lr_schedule}: expected one of {', '.join(SCHEDULES)}"
        )
        check(
            0.0 <= self.warmup_fraction < 1.0, f"--warmup_fraction={self.warmup_fraction}: expected a value in [0, 1)"
        )
        check(
            0.0 <= self.validation_fraction < 1.0,
            f"--validation_fraction={self.validation_fraction}: expected a value in [0, 1)",
        )
        check(
            self.wskd_correction in CORRECTIONS,
            f"--wskd_correction={self.wskd_correction}: expected one of {', '.join(CORRECTIONS)}",
        )
        check(self.wskd_margin >= 0, f"--wskd_margin={self.wskd_margin}: expected a value >= 0")
        check(0.0 <= self.wskd_beta <= 1.0, f"--wskd_beta={self.wskd_beta}: expected a value in [0, 1]")
        check(
            self.wskd_step2_reduction in STEP2_REDUCTIONS,
            f"--wskd_step2_reduction={self.wskd_step2_reduction}: expected {' or '.join(STEP2_REDUCTIONS)}",
        )
        check(self.gskd_gamma >= 0, f"--gskd_gamma={self.gskd_gamma}: expected a value >= 0")
        check(
            0.9 <= self.tfkd_correct_prob < 1.0,
            f"--tfkd_correct_prob={self.tfkd_correct_prob}: expected a value in [0.9, 1)",
        )
        if self.defective_teacher_accuracy is not None:
            check(
                0.0 < self.defective_teacher_accuracy < 1.0,
                f"--defective_teacher_accuracy={self.defective_teacher_accuracy}: expected a fraction in (0, 1)",
            )
        check(self.strategy in STRATEGIES, f"--strategy={self.strategy}: expected one of {', '.join(STRATEGIES)}")
        check(
            self.teacher_cache in TEACHER_CACHE,
            f"--teacher_cache={self.teacher_cache}: expected one of {', '.join(TEACHER_CACHE)}",
        )
        from kdkeras.pipelines.backup import parse_interval

        parse_interval(self.backup_every)
        check(
            self.steps_per_execution >= 1, f"--steps_per_execution={self.steps_per_execution}: expected an integer >= 1"
        )
        check(
            self.intra_op_threads >= 0 and self.inter_op_threads >= 0,
            "--intra_op_threads, --inter_op_threads: expected integers >= 0 (0: TensorFlow's default)",
        )
        check(self.verbose in (0, 1, 2), f"--verbose={self.verbose}: expected 0, 1 or 2")
        if self.method == "gskd":
            check(len(self.stages) >= 1, "--stages: gskd needs at least one stage, e.g. --stages=resnet8,resnet14")
        if self.method == "takd":
            check(
                len(self.assistants) >= 1, "--assistants: takd needs at least one assistant, e.g. --assistants=resnet14"
            )
        check(bool(self.output_dir), "--output_dir: expected a directory")
        if self.export:
            from edge import QUANTIZATIONS

            for mode in self.export:
                check(
                    mode in QUANTIZATIONS,
                    f"--export: {mode!r} is not a mode; expected names from {', '.join(QUANTIZATIONS)}",
                )
        if self.edge_runtime != ("litert",):
            from edge import RUNTIMES

            for runtime in self.edge_runtime:
                check(
                    runtime in RUNTIMES,
                    f"--edge_runtime: {runtime!r} is not a runtime; expected names from {', '.join(RUNTIMES)}",
                )
        for flag in ("mcu_ram_bytes", "mcu_flash_bytes"):
            value = getattr(self, flag)
            check(value >= 0, f"--{flag}={value}: expected a number of bytes (0 for no budget)")
            check(
                value == 0 or ("tflm" in self.edge_runtime and self.export),
                f"--{flag}: needs --export and --edge_runtime=litert,tflm (the arena is TFLite Micro's figure)",
            )
        return self

    def as_dict(self):
        """The settings as JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def semantic_dict(self):
        """The settings that change what is trained: a run directory holds one set of them."""
        return {k: v for k, v in self.as_dict().items() if k in SEMANTIC}


SEMANTIC = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["semantic"])
NOT_SEMANTIC = tuple(f.name for f in dataclasses.fields(TrainConfig) if not f.metadata["semantic"])
DATA_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["model_key"] == "data")
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata["model_key"] == "recipe")


def _base_type(annotation):
    """`float` for `Optional[float]`, `tuple` for `Tuple[str, ...]`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return _base_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is tuple:
        return tuple
    return annotation


def define_flags(flag_values=None):
    """Defines one absl flag per `TrainConfig` field, with its type, default and help.

    Idempotent, so every command that takes the recipe (train, tune,
    compare) can call it, in one process too.
    """
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    definers = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        if field.name in flag_values:
            continue
        kind = _base_type(hints[field.name])
        default = field.default
        if kind is tuple:
            flags.DEFINE_list(field.name, list(default), field.metadata["help"], flag_values=flag_values)
        else:
            definers[kind](field.name, default, field.metadata["help"], flag_values=flag_values)


def from_flags(values):
    """The `TrainConfig` of parsed flag values (not yet validated)."""
    kwargs = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(values, field.name)
        kwargs[field.name] = tuple(v.strip() for v in value if v.strip()) if isinstance(value, list) else value
    return TrainConfig(**kwargs)


def to_flagfile(config, header=()):
    """`config` as a flagfile `kdkeras.train` reads: every flag, one per line, `header` as comments."""
    lines = [f"# {line}" for line in header]
    for field in dataclasses.fields(TrainConfig):
        name, value = field.name, getattr(config, field.name)
        if value is None:
            lines.append(f"# --{name} is not set")
        elif isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, tuple):
            lines.append(f"--{name}={','.join(value)}")
        elif isinstance(value, float):
            lines.append(f"--{name}={value!r}")
        else:
            lines.append(f"--{name}={value}")
    return "\n".join(lines) + "\n"
