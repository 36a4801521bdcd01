"""`python -m kdkeras.train --flagfile=configs/blkd.flags`: one KD experiment.

Trains what `--method` needs (teacher, assistants, stages, student), shows
Keras progress bars, writes TensorBoard logs under `output_dir/logs`, a
per-epoch CSV per model, `<role>.keras` for every model (`student.keras` is
the final one) and `results.json`. Run again with the same flags, it reuses
what is finished and resumes what is not.
"""

import dataclasses
import json
import os
import sys
import time

from absl import app, flags

from kdkeras import cli, errors
from kdkeras.config import METHODS, OPTIMIZERS, SCHEDULES, STRATEGIES, TEACHER_CACHE, TrainConfig

_DEFAULTS = TrainConfig()
_HELP = {
    "method": "KD method: " + ", ".join(METHODS),
    "dataset": "mnist_sample (embedded), mnist, cifar10, cifar100 (tensorflow-datasets) or imagefolder:PATH",
    "data_dir": "tensorflow-datasets data directory (default: TFDS_DATA_DIR or ~/tensorflow_datasets)",
    "output_dir": "where models, logs and results.json go",
    "teacher": "teacher architecture (see kdkeras.models.names())",
    "teacher_checkpoint": "a trained teacher .keras file; when empty, the teacher is trained first",
    "student": "student architecture",
    "assistants": "takd: assistant architectures, largest first, comma-separated",
    "stages": "gskd: student architectures, smallest first, comma-separated",
    "grow_to_teacher": "gskd: add the teacher's architecture as the last stage (a new teacher)",
    "temperature": "softmax temperature T > 0",
    "alpha": "weight of the KD term (the CE term has 1 - alpha)",
    "epochs": "epochs of every distilled model",
    "teacher_epochs": "epochs of a teacher trained on labels (for dekd: the most it gets)",
    "defective_teacher_accuracy": "dekd: stop the teacher at the first epoch whose training accuracy reaches this",
    "batch_size": "global batch size",
    "optimizer": "one of " + ", ".join(OPTIMIZERS),
    "learning_rate": "initial learning rate",
    "momentum": "SGD momentum (Nesterov)",
    "weight_decay": "decoupled weight decay (0 for none)",
    "lr_schedule": "learning-rate schedule over each model's epochs: " + ", ".join(SCHEDULES),
    "augment": "random crop after 4-pixel padding and horizontal flip (CIFAR recipe)",
    "seed": "random seed of weights, shuffling and augmentation",
    "validation_fraction": "share of the training split held out for validation",
    "wskd_correction": "wskd: soft-label correction, lift or swap",
    "wskd_margin": "wskd lift: the true logit is raised to max + margin",
    "wskd_beta": "wskd: weight b of CE in the step-2 loss",
    "wskd_step2_reduction": "wskd: average the step-2 loss over the misclassified examples, or over the whole batch",
    "gskd_gamma": "gskd: weight g of the KL term to the previous stage",
    "tfkd_correct_prob": "tfkd_reg: the virtual teacher's probability of the true class",
    "strategy": "tf.distribute strategy: " + ", ".join(STRATEGIES),
    "tpu": "TPU address for --strategy=tpu",
    "mixed_precision": "mixed_float16 on GPU, mixed_bfloat16 on TPU",
    "jit_compile": "compile train steps with XLA",
    "steps_per_execution": "training steps per call into TensorFlow (Keras compile); batch callbacks then run every N steps",
    "intra_op_threads": "TensorFlow threads inside one op (0: one per core)",
    "inter_op_threads": "TensorFlow threads running ops side by side (0: one per core)",
    "teacher_cache": "compute a fixed teacher's logits once: " + ", ".join(TEACHER_CACHE),
    "export": "edge export modes after training, comma-separated (e.g. int8,float16)",
    "verbose": "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch",
}


def define_flags():
    """Defines one absl flag per `TrainConfig` field, with its default."""
    for field in dataclasses.fields(TrainConfig):
        name, default, text = field.name, getattr(_DEFAULTS, field.name), _HELP[field.name]
        if isinstance(default, bool):
            flags.DEFINE_bool(name, default, text)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, text)
        elif isinstance(default, float) or name == "defective_teacher_accuracy":
            flags.DEFINE_float(name, default, text)
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, list(default), text)
        else:
            flags.DEFINE_string(name, default, text)


def config_from_flags(values):
    """Builds the `TrainConfig` from parsed flag values."""
    kwargs = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(values, field.name)
        kwargs[field.name] = tuple(v.strip() for v in value if v.strip()) if isinstance(value, list) else value
    return TrainConfig(**kwargs)


define_flags()
FLAGS = flags.FLAGS

# Settings that change what is trained; a run directory holds one set of them.
_NOT_SEMANTIC = ("output_dir", "verbose", "export", "strategy", "tpu", "teacher_cache", "jit_compile", "steps_per_execution", "intra_op_threads", "inter_op_threads")


def check_run_directory(config):
    """Refuses an output_dir that holds a run with other settings; records ours."""
    from kdkeras import io

    path = os.path.join(config.output_dir, "run.json")
    ours = {k: v for k, v in config.as_dict().items() if k not in _NOT_SEMANTIC}
    if os.path.exists(path):
        try:
            with open(path) as f:
                theirs = json.load(f)
        except (OSError, ValueError):
            raise errors.UsageError(f"{path}: unreadable run record; remove it or choose another --output_dir") from None
        differing = sorted(k for k in ours if theirs.get(k, ours[k]) != ours[k])
        if differing:
            raise errors.UsageError(
                f"--output_dir={config.output_dir} holds a run with other settings "
                f"({', '.join('--' + k for k in differing)} differ); choose another --output_dir or remove it"
            )
    io.write_json_atomic(path, ours)


def results_payload(config, run, roles, info, seconds):
    """The content of `results.json`."""
    by_role = {record["role"]: record for record in run.records}
    keys = ("arch", "params", "flops", "test_accuracy", "train_seconds")
    payload = {
        "method": config.method,
        "dataset": config.dataset,
        "data": dataclasses.asdict(info),
        "teacher": {k: by_role[roles["teacher"]][k] for k in keys} if roles.get("teacher") else None,
        "student": {k: by_role[roles["student"]][k] for k in keys},
        "models": run.records,
        "epochs": config.epochs,
        "teacher_epochs": config.teacher_epochs,
        "train_seconds": round(sum(r["train_seconds"] for r in run.records), 3),
        "wall_seconds": round(seconds, 3),
        "flags": config.as_dict(),
    }
    if roles.get("new_teacher"):
        payload["new_teacher"] = {k: by_role[roles["new_teacher"]][k] for k in keys}
    return payload


def prepare(config):
    """What every run does before it builds a model; returns `(strategy, splits)`.

    The strategy is made first (it may configure devices), then the seed and
    the precision policy are set and the data is loaded.
    """
    import keras

    from kdkeras import data
    from kdkeras.distribute import make_strategy
    from kdkeras.performance import configure_threads

    configure_threads(config.intra_op_threads, config.inter_op_threads)  # before TensorFlow starts
    strategy = make_strategy(config.strategy, config.tpu)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if config.strategy == "tpu" else "mixed_float16")
    splits = data.load(
        config.dataset,
        batch_size=config.batch_size,
        augment=config.augment,
        data_dir=config.data_dir,
        validation_fraction=config.validation_fraction,
        seed=config.seed,
    )
    return strategy, splits


def train(config):
    """Runs one experiment for a validated `config`; returns the results dict."""
    from kdkeras import io
    from kdkeras.distribute import is_chief
    from kdkeras.pipelines import METHODS as PIPELINES
    from kdkeras.pipelines import Run

    start = time.perf_counter()
    strategy, splits = prepare(config)
    chief = is_chief(strategy)
    os.makedirs(config.output_dir, exist_ok=True)
    if chief:
        check_run_directory(config)
    run = Run(config, splits, strategy, chief=chief)
    roles = PIPELINES[config.method](run)
    run.write_models_csv()
    payload = results_payload(config, run, roles, splits.info, time.perf_counter() - start)
    if config.export and chief:
        payload["edge"] = export_student(config, run.models[roles["student"]], splits)
    if chief:
        final = os.path.join(config.output_dir, f"{roles['student']}.keras")
        if roles["student"] != "student":
            io.replace_atomic(os.path.join(config.output_dir, "student.keras"), lambda tmp: _copy(final, tmp))
        io.write_json_atomic(os.path.join(config.output_dir, "results.json"), payload)
    teacher_text = f"teacher {payload['teacher']['test_accuracy']:.4f}, " if payload["teacher"] else ""
    print(
        f"[kdkeras] {config.method} on {config.dataset}: {teacher_text}"
        f"student {payload['student']['test_accuracy']:.4f} ({payload['student']['arch']}); "
        f"results in {os.path.join(config.output_dir, 'results.json')}"
    )
    return payload


def export_student(config, student, splits):
    """Exports the final student in every `--export` mode and measures each file."""
    import edge

    figures = {}
    for mode in config.export:
        path = os.path.join(config.output_dir, f"student_{mode}.tflite")
        print(f"[kdkeras] exporting the student as {mode} to {path}")
        exported = edge.export_tflite(student, mode, path, train_data=splits.train)
        measured = edge.benchmark_tflite(path, splits.test)
        figures[mode] = {**exported, **measured}
        print(
            f"[kdkeras] {mode}: {measured['size_bytes']} bytes, accuracy {measured['accuracy']:.4f}, "
            f"median latency {measured['latency_ms']['median']:.3f} ms"
        )
    return figures


def _copy(source, destination):
    import shutil

    shutil.copyfile(source, destination)


def parse_flags(argv):
    """absl flag parsing whose errors are one line and exit 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(cli.USAGE_EXIT_CODE)


@cli.run
def main(argv):
    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    config = config_from_flags(FLAGS).validate()
    train(config)


if __name__ == "__main__":
    cli.quiet_tensorflow_logs()
    app.run(main, flags_parser=parse_flags)
