"""The settings of one training run, apart from the code that runs it.

`TrainConfig` is the one description of a run: every field is a flag of
`python -m kdkeras.train` (with its type, default and help from here), a
key of `results.json["flags"]`, and a line of a flagfile (`to_flagfile`).
Its fields are the recipe's, declared here, and every method unit's
settings (`kdkeras.methods`), added from the units. Tools (comparison,
tuning) build it directly or through `define_flags` and `from_flags`.
`validate()` checks each setting against the one `Range` its field
declares and words any failure as a `UsageError` naming the flag.

Importing this module imports neither TensorFlow nor a pipeline; only
`validate()` loads the model registry and edge's names to check them.
"""

import dataclasses
import typing
from typing import Optional, Tuple

from kdkeras import methods, ranges
from kdkeras.backup_interval import DEFAULT_INTERVAL
from kdkeras.errors import UsageError, check
from kdkeras.settings import setting as _field
from kdkeras.settings import valid_range

__all__ = [
    "TrainConfig",
    "define_flags",
    "from_flags",
    "to_flagfile",
    "NOT_SEMANTIC",
    "METHODS",
    "DATA_FIELDS",
    "RECIPE_FIELDS",
]

METHODS = methods.names()
STRATEGIES = ranges.OneOf(("auto", "default", "mirrored", "multi_worker", "tpu"))
TEACHER_CACHE = ranges.OneOf(("auto", "on", "off"))
VERBOSITY = ranges.OneOf((0, 1, 2), joiner=", ")
POSITIVE_INTEGER = ranges.Interval(1, integer=True)


def _check_arch(where, spec):
    """Raises `UsageError` unless `spec` names an architecture and options it takes."""
    from kdkeras import models

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
class RecipeConfig:
    """The settings of a run every method shares; the field names are the flag names."""

    method: str = _field("blkd", "KD method: " + ", ".join(METHODS), valid=ranges.OneOf(METHODS))
    dataset: str = _field(
        "mnist_sample",
        "mnist_sample (embedded), mnist, cifar10, cifar100 (tensorflow-datasets) or imagefolder:PATH",
        model_key="data",
    )
    data_dir: Optional[str] = _field(
        None,
        "tensorflow-datasets data directory (default: TFDS_DATA_DIR or ~/tensorflow_datasets); for mnist also a "
        "folder holding the four official IDX files (read offline, checksums checked)",
    )
    output_dir: str = _field("runs/blkd", "where models, logs and results.json go", semantic=False)
    teacher: str = _field(
        "resnet26", "teacher architecture (see kdkeras.models.names()), options after ':', e.g. convnext_tiny:input=224"
    )
    teacher_checkpoint: Optional[str] = _field(
        None, "a trained teacher .keras file; when empty, the teacher is trained first"
    )
    student: str = _field("resnet8", "student architecture, e.g. resnet8 or mobilenet_v3_small:alpha=0.75,input=96")
    epochs: int = _field(10, "epochs of every distilled model", valid=POSITIVE_INTEGER)
    teacher_epochs: int = _field(
        10, "epochs of a teacher trained on labels (for dekd: the most it gets)", valid=POSITIVE_INTEGER
    )
    batch_size: int = _field(128, "global batch size", valid=POSITIVE_INTEGER, model_key="recipe")
    optimizer: str = _field(
        "sgd", "one of " + ", ".join(ranges.OPTIMIZERS.choices), valid=ranges.OPTIMIZERS, model_key="recipe"
    )
    learning_rate: float = _field(
        0.1, "initial (peak, for onecycle) learning rate", valid=ranges.POSITIVE, model_key="recipe"
    )
    momentum: float = _field(0.9, "SGD momentum (Nesterov)", valid=ranges.FRACTION_OPEN, model_key="recipe")
    weight_decay: float = _field(
        5e-4, "weight decay coefficient (0 for none)", valid=ranges.NON_NEGATIVE, model_key="recipe"
    )
    weight_decay_mode: str = _field(
        "decoupled",
        "decoupled (Keras, subtracted from the weights) or l2 (added to the gradient, as torch.optim.SGD)",
        valid=ranges.WEIGHT_DECAY_MODES,
        model_key="recipe",
    )
    lr_schedule: str = _field(
        "cosine",
        "learning-rate schedule over each model's epochs: " + ", ".join(ranges.SCHEDULES.choices),
        valid=ranges.SCHEDULES,
        model_key="recipe",
    )
    warmup_fraction: float = _field(
        0.15,
        "onecycle: share of the steps spent warming up from learning_rate/25",
        valid=ranges.FRACTION_OPEN,
        model_key="recipe",
    )
    augment: bool = _field(
        False,
        "random views of the training images: digits (mnist, mnist_sample) shifted by up to 2 pixels, no flip; "
        "other datasets a random crop after 4-pixel padding and a horizontal flip (CIFAR recipe)",
        model_key="data",
    )
    seed: int = _field(0, "random seed of weights, shuffling and augmentation", model_key="recipe")
    validation_fraction: float = _field(
        0.0, "share of the training split held out for validation", valid=ranges.FRACTION_OPEN, model_key="data"
    )
    test_every_epoch: bool = _field(
        False,
        "evaluate the test split after every epoch: test_accuracy and test_loss in each model's history "
        "(training unchanged; the evaluation's time is not training time)",
        semantic=False,
    )
    strategy: str = _field(
        "auto", "tf.distribute strategy: " + ", ".join(STRATEGIES.choices), valid=STRATEGIES, semantic=False
    )
    tpu: Optional[str] = _field(None, "TPU address for --strategy=tpu", semantic=False)
    mixed_precision: bool = _field(False, "mixed_float16 on GPU, mixed_bfloat16 on TPU", model_key="recipe")
    jit_compile: bool = _field(False, "compile train steps with XLA (slower for CIFAR ResNets on CPUs)", semantic=False)
    steps_per_execution: int = _field(
        1,
        "training steps per call into TensorFlow (Keras compile); batch callbacks then run every N steps",
        valid=POSITIVE_INTEGER,
        semantic=False,
    )
    intra_op_threads: int = _field(0, "TensorFlow threads inside one op (0: one per core)", semantic=False)
    inter_op_threads: int = _field(0, "TensorFlow threads running ops side by side (0: one per core)", semantic=False)
    teacher_cache: str = _field(
        "auto",
        "frozen models' logits from an exact on-disk cache (with or without --augment): "
        + ", ".join(TEACHER_CACHE.choices),
        valid=TEACHER_CACHE,
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
        DEFAULT_INTERVAL,
        "how often a model in training is backed up, so a killed run loses at most that: minutes (5m), "
        "seconds (90s), batches (200) or epoch; a run started again resumes at the backup's batch",
        semantic=False,
    )
    verbose: int = _field(
        1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch", valid=VERBOSITY, semantic=False
    )

    def validate(self):
        """Raises `UsageError` for the first setting that cannot be used.

        Each field is checked against the `Range` it declares (the same one
        the code that uses the value checks), worded with its flag; then what
        the method requires and what only holds across settings.
        """
        for field in dataclasses.fields(self):
            valid, value = valid_range(field), getattr(self, field.name)
            if valid is not None and value is not None and not valid.contains(value):
                raise UsageError(f"--{field.name}={value}: expected {valid.describe()}")
        unit = methods.get(self.method)
        for flag in ("teacher", "student"):
            _check_arch(f"--{flag}={getattr(self, flag)}", getattr(self, flag))
        for field in dataclasses.fields(self):
            for arch in getattr(self, field.name) if field.metadata.get("architectures") else ():
                _check_arch(f"--{field.name}: {arch!r}", arch)
        for requirement in unit.requires:
            check(getattr(self, requirement.setting), f"--{requirement.setting}: {requirement.message}")
        check(
            not self.logit_standardization or "logit_standardization" in unit.setting_names,
            f"--logit_standardization: {self.method} matches no teacher's logits; expected it off",
        )
        check(
            self.loss_weight == 1.0 or "loss_weight" in unit.setting_names,
            f"--loss_weight={self.loss_weight}: {self.method} has no (1 - alpha) CE + alpha KD loss to scale "
            "(its own flags weigh its terms); expected 1",
        )
        from kdkeras.backup_interval import parse_interval

        parse_interval(self.backup_every)
        check(
            self.intra_op_threads >= 0 and self.inter_op_threads >= 0,
            "--intra_op_threads, --inter_op_threads: expected integers >= 0 (0: TensorFlow's default)",
        )
        check(bool(self.output_dir), "--output_dir: expected a directory")
        self._validate_edge()
        return self

    def _validate_edge(self):
        if self.export:
            from edge.names import QUANTIZATIONS

            for mode in self.export:
                check(
                    mode in QUANTIZATIONS,
                    f"--export: {mode!r} is not a mode; expected names from {', '.join(QUANTIZATIONS)}",
                )
        if self.edge_runtime != ("litert",):
            from edge.names import RUNTIMES

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

    def as_dict(self):
        """The settings as JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def semantic_dict(self):
        """The settings that change what is trained: a run directory holds one set of them."""
        return {k: v for k, v in self.as_dict().items() if k in SEMANTIC}


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata)) for f in methods.setting_fields()],
    bases=(RecipeConfig,),
    namespace={
        "__doc__": "Every setting of a run: the recipe's, then each method unit's; field names are flag names.",
        "__module__": __name__,
    },
)

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
