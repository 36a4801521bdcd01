"""Running a study: every run of its plan not finished yet, in this process, resumable.

A run whose `results.json` exists is not repeated, so the same command goes on after any stop; nor is a method's
run whose records are kept beside the report (a clone on a new machine, without the ignored output folder, goes
on with the runs no session finished). After every run the study keeps its small records beside the report
(`records.keep`) and rewrites the report.
"""

import os
import time

from kdkeras import experiment, io, methods
from kdkeras.errors import UsageError
from kdkeras.run_directory import by_content, claim, differing_settings
from kdkeras.study import records, report

__all__ = ["publish", "run_all"]


def measure_footprint(run_dir):
    """The int8 student's TensorFlow Lite Micro arena and flash, measured once into `tflm_footprint.json`."""
    record = os.path.join(run_dir, "tflm_footprint.json")
    tflite = os.path.join(run_dir, "student_int8.tflite")
    if os.path.exists(record) or not os.path.exists(tflite):
        return
    import edge

    try:
        footprint = edge.tflm_footprint(tflite)
    except UsageError as error:  # an operator TFLM lacks: the columns stay empty, the study goes on
        print(f"[compare] TFLM: {tflite}: {error}", flush=True)
        return
    io.write_json_atomic(record, {k: footprint[k] for k in ("arena_bytes", "arena_tried_bytes", "flash_bytes")})


def publish(plan):
    """Keeps the finished runs' records beside the report and rewrites the report; returns results.md's path."""
    records.keep(plan)
    return report.write(plan)


def run_all(plan):
    """Trains every run not finished yet; returns the labels of the runs that failed.

    The study claims `output_dir` while it runs (and each run its own
    directory inside), so a second study there ends at once naming this one.
    """
    with claim(plan.output_dir, what="study"):
        return _run_all(plan)


def _run_all(plan):
    runs = plan.runs_to_train()
    start = time.perf_counter()
    failed = []
    publish(plan)  # the tables of what is finished, at once (a resumed study too)
    for index, (label, name, seed, config) in enumerate(runs, start=1):
        prefix = f"[compare] run {index}/{len(runs)}: {label}"
        check_finished_settings(label, config, [config.output_dir] + ([plan.records_dir(name, seed)] if name else []))
        if records.load_results(config.output_dir) is not None:
            print(f"{prefix}: finished earlier, skipped ({config.output_dir})", flush=True)
            if name is not None and plan.edge == "on":
                measure_footprint(config.output_dir)
            continue
        kept = plan.records_dir(name, seed)
        if name is not None and records.load_results(kept) is not None:  # a shared teacher's model is needed
            print(f"{prefix}: finished in an earlier session, its records kept in {kept}; skipped", flush=True)
            continue
        if config.teacher_checkpoint and not os.path.isfile(config.teacher_checkpoint):
            print(f"{prefix}: not run, the shared teacher {config.teacher_checkpoint} is missing", flush=True)
            failed.append(label)
            continue
        print(f"{prefix}: training in {config.output_dir}", flush=True)
        t0 = time.perf_counter()
        try:
            experiment.train(config)
        except UsageError:
            raise
        except Exception as error:  # e.g. a diverged run: the others still run; this one resumes next time
            print(f"{prefix}: FAILED ({type(error).__name__}: {error}); going on with the others", flush=True)
            failed.append(label)
            continue
        finally:
            _clear_session()
        print(f"{prefix}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        if name is not None and plan.edge == "on":
            measure_footprint(config.output_dir)
        publish(plan)
    path = publish(plan)
    print(
        f"[compare] {len(runs) - len(failed)} of {len(runs)} runs finished ({time.perf_counter() - start:.1f} "
        f"s this time); results in {path}",
        flush=True,
    )
    return failed


def check_finished_settings(label, config, folders):
    """Refuses a finished run (in the output folder or kept beside the report) recorded with other settings than
    the plan's for it: skipped as finished, it would stand in the report for a run it is not. The settings of
    other methods than the run's own do not count.

    Raises:
        UsageError: naming the folder and the settings that differ.
    """
    unread = methods.unread_settings(config.method)
    ours = {k: v for k, v in by_content(config.semantic_dict()).items() if k not in unread}
    for folder in folders:
        recorded = records.load_results(folder, name="run.json")
        differing = differing_settings(recorded, ours) if recorded is not None else []
        if differing:
            raise UsageError(
                f"{folder}: {label} was trained with other settings ({', '.join('--' + k for k in differing)} "
                "differ) than the flagfile gives it; move the folder to the name of what it is, or restore the "
                "flagfile"
            )


def _clear_session():
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
