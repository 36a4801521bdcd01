"""One KD experiment as a library call: `train(config)` for a validated `TrainConfig`.

`python -m kdkeras.train` is the command around it; `kdkeras.tune` and
`tools/compare.py` call it (and `prepare`) directly.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import time

from kdkeras import io, provenance
from kdkeras.errors import UsageError
from kdkeras.run_directory import by_content, check_settings, claim

__all__ = ["prepare", "train", "results_payload", "export_student"]

_RECORD_KEYS = ("arch", "params", "flops", "test_accuracy", "train_seconds")


def prepare(config):
    """What every run does before it builds a model; returns `(strategy, splits)`.

    The strategy is made first (it may configure devices), then the seed and
    the precision policy are set and the data is loaded.
    """
    import keras

    from kdkeras import data
    from kdkeras.distribute import make_strategy
    from kdkeras.performance import configure_threads

    configure_threads(config.intra_op_threads, config.inter_op_threads)  # before TensorFlow starts its pools
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
        announce=True,
    )
    return strategy, splits


def results_payload(config, run, roles, info, seconds):
    """The content of `results.json`."""
    by_role = {record["role"]: record for record in run.records}

    def summary(role):
        return {k: by_role[role][k] for k in _RECORD_KEYS}

    payload = {
        "method": config.method,
        "dataset": config.dataset,
        "data": dataclasses.asdict(info),
        "teacher": summary(roles["teacher"]) if roles.get("teacher") else None,
        "student": summary(roles["student"]),
        "models": run.records,
        "epochs": config.epochs,
        "teacher_epochs": config.teacher_epochs,
        "train_seconds": round(sum(r["train_seconds"] for r in run.records), 3),
        "wall_seconds": round(seconds, 3),
        "resumption": {record["role"]: record.get("resumption") for record in run.records},
        "flags": config.as_dict(),
        "provenance": {
            **provenance.describe(),
            "kdkeras_commit": trained_with(run.records, config.output_dir),
            "written_by_commit": provenance.LIBRARY_COMMIT,
        },
    }
    if roles.get("new_teacher"):
        payload["new_teacher"] = summary(roles["new_teacher"])
    return payload


def trained_with(records, output_dir):
    """The kdkeras commit(s) that trained a run's models, for `results.json`'s `provenance.kdkeras_commit`.

    Why: a run started again after it finished loads its models and writes
    `results.json` anew; the file must keep naming the code that trained
    them, not the code that loaded them. Each model's record names the
    commit that finished it (a `--teacher_checkpoint` is not trained by the
    run); a record from before records did takes the commit the run's
    previous `results.json` named.
    """
    commits = {record.get("kdkeras_commit") for record in records if "checkpoint" not in record}
    if None in commits:
        commits.discard(None)
        path = os.path.join(output_dir, "results.json")
        previous = {}
        if os.path.exists(path):
            try:
                with open(path) as f:
                    previous = json.load(f).get("provenance", {})
            except (OSError, ValueError, AttributeError):
                raise UsageError(f"{path}: unreadable results; remove it or choose another --output_dir") from None
        commits.update(provenance.split_commits(previous.get("kdkeras_commit", "not recorded")))
    return provenance.join_commits(commits)


def train(config):
    """Runs one experiment for a validated `config`; returns the results dict.

    The chief claims `output_dir` for the whole run (`run_directory.claim`):
    a second process on it ends at once with a `UsageError`; the other
    workers of a multi-worker run are part of this run and do not claim.
    """
    from kdkeras.distribute import is_chief

    start = time.perf_counter()
    strategy, splits = prepare(config)
    chief = is_chief(strategy)
    with claim(config.output_dir) if chief else contextlib.nullcontext():
        return _train_claimed(config, strategy, splits, chief, start)


def _train_claimed(config, strategy, splits, chief, start):
    from kdkeras import methods
    from kdkeras.pipelines import Run

    os.makedirs(config.output_dir, exist_ok=True)
    if chief:
        check_settings(
            config.output_dir, by_content(config.semantic_dict()), ignored=methods.unread_settings(config.method)
        )
    run = Run(config, splits, strategy, chief=chief)
    roles = methods.get(config.method).pipeline(run)
    run.write_models_csv()
    payload = results_payload(config, run, roles, splits.info, time.perf_counter() - start)
    if config.export and chief:
        payload["edge"] = export_student(config, run.models[roles["student"]], splits)
    if chief:
        final = os.path.join(config.output_dir, f"{roles['student']}.keras")
        if roles["student"] != "student":
            io.replace_atomic(os.path.join(config.output_dir, "student.keras"), lambda tmp: shutil.copyfile(final, tmp))
        io.write_json_atomic(os.path.join(config.output_dir, "results.json"), payload)
    # Every model is saved now: the backups of this process's models are no longer needed.
    shutil.rmtree(os.path.join(config.output_dir, "backup"), ignore_errors=True)
    teacher_text = f"teacher {payload['teacher']['test_accuracy']:.4f}, " if payload["teacher"] else ""
    print(
        f"[kdkeras] {config.method} on {config.dataset}: {teacher_text}"
        f"student {payload['student']['test_accuracy']:.4f} ({payload['student']['arch']}); "
        f"results in {os.path.join(config.output_dir, 'results.json')}"
    )
    return payload


def export_student(config, student, splits):
    """Exports the final student in every `--export` mode and measures each file.

    LiteRT measures every file; with `--edge_runtime=litert,tflm` TensorFlow
    Lite Micro too (accuracy, arena, flash, and the MCU budget if given).
    """
    import edge
    from edge.benchmark import tflm_line
    from edge.budget import budget_line

    runtime = "tflm" if "tflm" in config.edge_runtime else "litert"
    figures = {}
    for mode in config.export:
        path = os.path.join(config.output_dir, f"student_{mode}.tflite")
        print(f"[kdkeras] exporting the student as {mode} to {path}")
        exported = edge.export_tflite(student, mode, path, train_data=splits.train)
        measured = edge.benchmark_tflite(
            path,
            splits.test,
            runtime=runtime,
            mcu_ram_bytes=config.mcu_ram_bytes or None,
            mcu_flash_bytes=config.mcu_flash_bytes or None,
        )
        figures[mode] = {**exported, **measured}
        print(
            f"[kdkeras] {mode}: {measured['size_bytes']} bytes, accuracy {measured['accuracy']:.4f}, "
            f"median latency {measured['latency_ms']['median']:.3f} ms"
        )
        if "tflm" in measured:
            print(f"[kdkeras] {tflm_line(mode, measured['tflm'])}")
        if "mcu" in measured:
            print(f"[kdkeras] {budget_line(measured['mcu'], f'the {mode} student')}")
    return figures
