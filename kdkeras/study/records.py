"""A study's evidence: each run's small records, read where the run wrote them or from the copy kept
beside the report.

The runs train in the ignored output folder; after every run the study copies its small records (every
`.json` and `.csv`: `results.json`, `run.json`, the models' `<role>.json`, `<role>_history.csv`,
`models.csv`, the TFLM footprint, the backups' `latest.json`) into `<results_dir>/records/<name>/seed<k>/`,
the teacher caches' headers into `records/cache/`, and the `--teacher_checkpoint` model with its run's
records into `<results_dir>/teacher/`; never models, cache tables, TensorBoard logs or TFLite files. A clone
without the output folder reads the copies.
"""

import json
import os

from kdkeras import io

# The one import from the training run: where a model's per-epoch history is read.
from kdkeras.pipelines.records import epoch_history

__all__ = ["epoch_history", "find_results", "keep", "load_results", "small_records"]

SMALL_SUFFIXES = (".json", ".csv")
# TensorBoard's folder holds no record; the rest of a run folder's `.json`/`.csv` files are records.
LEFT_OUT_FOLDERS = ("logs",)


def load_results(directory, name="results.json"):
    """The JSON file `name` in `directory`, or None when it is not there."""
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def find_results(*directories):
    """`(results.json, directory)` of the first directory holding one, else `(None, None)`."""
    for directory in directories:
        payload = load_results(directory)
        if payload is not None:
            return payload, directory
    return None, None


def small_records(run_dir):
    """The paths (relative to `run_dir`) of the run's small records, sorted."""
    found = []
    for folder, subfolders, files in os.walk(run_dir):
        subfolders[:] = sorted(d for d in subfolders if d not in LEFT_OUT_FOLDERS)
        found += [
            os.path.relpath(os.path.join(folder, f), run_dir)
            for f in files
            if f.endswith(SMALL_SUFFIXES) and not f.startswith(".tmp-")
        ]
    return sorted(found)


def copy_file(source, destination):
    """Copies `source` onto `destination` atomically, unless it already holds the same bytes; True if copied."""
    with open(source, "rb") as f:
        data = f.read()
    if os.path.exists(destination):
        with open(destination, "rb") as f:
            if f.read() == data:
                return False
    io.write_bytes_atomic(destination, data)
    return True


def copy_records(run_dir, destination):
    """Copies the small records of `run_dir` into `destination`; the number of files that changed."""
    return sum(copy_file(os.path.join(run_dir, p), os.path.join(destination, p)) for p in small_records(run_dir))


def keep(plan):
    """Copies every finished run's small records, the cache headers and the shared teacher beside the report.

    Nothing is copied when the report is written into the output folder itself. Returns the number of files
    that changed.
    """
    if not plan.keeps_records:
        return 0
    changed = 0
    for _, name, seed, config in plan.runs():
        if load_results(config.output_dir) is not None:
            changed += copy_records(config.output_dir, plan.records_dir(name, seed))
    if os.path.isdir(plan.cache_dir):
        for f in sorted(os.listdir(plan.cache_dir)):
            if f.endswith(".json") and not f.startswith(".tmp-") and not f.endswith(".partial.json"):
                changed += copy_file(
                    os.path.join(plan.cache_dir, f), os.path.join(plan.report_dir, "records", "cache", f)
                )
    checkpoint = plan.recipe.teacher_checkpoint
    if checkpoint and os.path.isfile(checkpoint):
        source = os.path.dirname(os.path.abspath(checkpoint))
        if not _kept_already(source, plan):
            changed += copy_file(checkpoint, os.path.join(plan.kept_teacher_dir, os.path.basename(checkpoint)))
            if load_results(source) is not None:  # the folder of the run that saved it, not any folder
                changed += copy_records(source, plan.kept_teacher_dir)
    return changed


def _kept_already(folder, plan):
    """True when `folder` is the report's teacher folder or one in a report beside it (for example
    `results/cifar10_round2/teacher/` for a report `results/cifar10_round3/`): a second copy would only repeat it."""
    reports = os.path.dirname(os.path.abspath(plan.report_dir))
    return folder == os.path.abspath(plan.kept_teacher_dir) or os.path.dirname(os.path.dirname(folder)) == reports
