"""Time to accuracy: runs' test accuracy against their training seconds, epoch by epoch (issue 31).

As DAWNBench and airbench compare training speed: for each run's final
model (the one its method delivers, the last of `results.json["models"]`),
its test accuracy after every epoch against the seconds spent training it so
far, with and without what its teachers cost, and the first epoch and
seconds at which it reaches a target accuracy. `tools/time_to_accuracy.py`
is the command.

What is read, from a kdkeras run folder or a study's records folder
(`RESULTS_DIR/records/<method>/seed<k>`), both holding `results.json` and
`<role>_history.csv`:

- per epoch, the history's `test_accuracy` (logged with
  `--test_every_epoch`) and `train_seconds` (training seconds so far, the
  test evaluation left out; `kdkeras.pipelines.records`);
- the final model's record: its `train_seconds`, which include the fill of
  its teacher cache, `cache_seconds`, before its first epoch; a cache it
  read, filled by another run (two students sharing one teacher), by the
  fill's own seconds (`fill_seconds` of its entry in `caches`);
- its teachers: every other model of the run (teacher, TAKD's assistants,
  GSKD's earlier stages, Re-KD's small model), each its record's
  `train_seconds`; a `--teacher_checkpoint` model by the record beside its
  file (`<role>.json` or `results.json`, as the study reads it): its own
  training, not that of any teacher it had.

"With teacher" seconds are the model's own plus its cache fill (its own or
the one it read) plus its teachers' training seconds: what a run from
nothing costs, so a fill shared by two runs counts in each. A history
without the two columns (trained before they were logged, or without
`--test_every_epoch`) is said in one line and left out.
"""

import json
import os

from kdkeras import io
from kdkeras.errors import UsageError, check
from kdkeras.pipelines.records import epoch_history

__all__ = ["DEFAULT_TARGET", "parse_runs", "read_run", "time_to_accuracy", "markdown", "plot", "write"]

DEFAULT_TARGET = 0.85
NAMES = ("time_to_accuracy.json", "time_to_accuracy.md", "time_to_accuracy.png")


def parse_runs(text):
    """`[(label, folder)]` of `--runs=label=DIR,...` (a DIR alone is labelled by its path)."""
    runs = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        label, folder = item.split("=", 1) if "=" in item else (item, item)
        label, folder = label.strip(), folder.strip()
        check(label and folder, f"--runs: {item!r}: expected label=DIR")
        check(label not in dict(runs), f"--runs: the label {label!r} is given twice")
        runs.append((label, folder))
    check(runs, "--runs: expected label=DIR,... (kdkeras run folders or a study's records folders)")
    return runs


def _number(text):
    """A history cell as a float, or None where it holds none (`NA`, empty, missing)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not readable as JSON ({error})") from None


def _checkpoint_record(path):
    """The record of the model saved at `path` (`<role>.keras`), from beside it; None when not there."""
    folder, role = os.path.dirname(path), os.path.basename(path).removesuffix(".keras")
    own = os.path.join(folder, f"{role}.json")
    if os.path.isfile(own):
        return _load_json(own), own
    results = os.path.join(folder, "results.json")
    if os.path.isfile(results):
        found = [r for r in _load_json(results).get("models", []) if r.get("role") == role]
        if found:
            return found[-1], results
    return None, None


def _teachers(payload, final, say):
    """`(seconds or None, [{role, arch, train_seconds, record}])` of the run's models other than `final`."""
    out, total = [], 0.0
    for record in payload["models"]:
        if record is final:
            continue
        seconds, where = record.get("train_seconds"), "results.json"
        if record.get("checkpoint"):
            own, where = _checkpoint_record(record["checkpoint"])
            seconds = None if own is None else own.get("train_seconds")
            if own is None:
                say(f"the record of {record['role']}'s checkpoint {record['checkpoint']} is not beside it")
        out.append({"role": record["role"], "arch": record["arch"], "train_seconds": seconds, "record": where})
        total = None if total is None or seconds is None else total + seconds
    return (None if total is None else round(total, 3)), out


def _shared_fill(final, say):
    """Seconds of the cache fills `final` read but did not do (None when a cache's entry lacks them)."""
    total = 0.0
    for cache in final.get("caches") or []:
        if cache.get("filled", True):
            continue
        if cache.get("fill_seconds") is None:
            say(f"the fill of the cache {cache.get('cache')} it read is not recorded (written before kdkeras kept it)")
            return None
        total += float(cache["fill_seconds"])
    return round(total, 3)


def read_run(label, folder, target, say=print):
    """The time-to-accuracy figures of the run in `folder` (see the module's docstring), or None when its
    history lacks them (said through `say`, in one line).

    Raises:
        UsageError: `folder` or its `results.json` is not there or not readable.
    """
    check(os.path.isdir(folder), f"--runs: {label}={folder}: not a folder")
    results = os.path.join(folder, "results.json")
    check(
        os.path.isfile(results),
        f"--runs: {results}: not found; expected a kdkeras run folder or a study's records folder",
    )
    payload = _load_json(results)
    check(payload.get("models"), f"{results}: lists no models")
    final = payload["models"][-1]
    role = final["role"]

    def note(text):
        say(f"[time_to_accuracy] {label}: {text}")

    path = os.path.join(folder, f"{role}_history.csv")
    history = epoch_history(path)
    if not history:
        note(f"no per-epoch history of its {role} ({path}); skipped")
        return None
    missing = [c for c in ("test_accuracy", "train_seconds") if not any(_number(r.get(c)) is not None for r in history)]
    if missing:
        why = "trained without --test_every_epoch" if "test_accuracy" in missing else "logged before kdkeras kept it"
        note(f"{path} has no {' or '.join(missing)} per epoch ({why}); skipped")
        return None
    cache = float(final.get("cache_seconds") or 0.0)
    shared = _shared_fill(final, note)
    teacher, teachers = _teachers(payload, final, note)
    # Seconds spent before the model's first epoch, by it or for it.
    before = None if None in (teacher, shared) else teacher + cache + shared
    epochs = []
    for row in history:
        seconds, accuracy = _number(row.get("train_seconds")), _number(row.get("test_accuracy"))
        epochs.append(
            {
                "epoch": int(row["epoch"]) + 1,
                "train_seconds": seconds,
                "train_seconds_with_teacher": None if None in (seconds, before) else round(seconds + before, 3),
                "test_accuracy": accuracy,
            }
        )
    reached = next((e for e in epochs if e["test_accuracy"] is not None and e["test_accuracy"] >= target), None)
    own = round(float(final["train_seconds"]) - cache, 3)
    return {
        "label": label,
        "folder": folder,
        "method": payload.get("method"),
        "role": role,
        "arch": final["arch"],
        "epochs_trained": final.get("epochs", len(epochs)),
        "test_accuracy": final.get("test_accuracy"),
        "train_seconds": own,
        "cache_seconds": round(cache, 3),
        "shared_fill_seconds": shared,
        "teacher_seconds": teacher,
        "teachers": teachers,
        "train_seconds_with_teacher": None if before is None else round(own + before, 3),
        "untested_epochs": [e["epoch"] for e in epochs if e["test_accuracy"] is None],
        "target_epoch": reached and reached["epoch"],
        "target_seconds": reached and reached["train_seconds"],
        "target_seconds_with_teacher": reached and reached["train_seconds_with_teacher"],
        "epochs": epochs,
    }


def time_to_accuracy(runs, target, say=print):
    """`{"target", "runs", "skipped"}` of `[(label, folder)]` (`read_run` for each)."""
    check(0 < target <= 1, f"--target={target}: expected a fraction of the test set in (0, 1], e.g. 0.85")
    found, skipped = [], []
    for label, folder in runs:
        figures = read_run(label, folder, target, say)
        if figures is None:
            skipped.append(label)
        else:
            found.append(figures)
    return {"target": target, "runs": found, "skipped": skipped}


def _seconds(value):
    return "–" if value is None else f"{value:,.1f}"


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}"


def markdown(payload):
    """The table of `time_to_accuracy`'s payload, as Markdown."""
    target = payload["target"]
    lines = [
        "# Time to accuracy",
        "",
        f"Target: {_percent(target)}% test accuracy. Seconds are training seconds (the per-epoch test "
        'evaluation left out); "with teacher" adds the teacher cache fill (the run\'s own, or the one it read '
        "from another run) and the training of the run's other models (teacher, assistants, earlier stages), "
        "as a run from nothing costs.",
        "",
        "| run | method | model | epochs | final test % | train s | train s with teacher "
        f"| first epoch ≥ {_percent(target)}% | its train s | its train s with teacher |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in payload["runs"]:
        untested = f" ({len(run['untested_epochs'])} untested)" if run["untested_epochs"] else ""
        lines.append(
            f"| {run['label']} | {run['method']} | {run['role']} ({run['arch']}) | {run['epochs_trained']}{untested} "
            f"| {_percent(run['test_accuracy'])} | {_seconds(run['train_seconds'])} "
            f"| {_seconds(run['train_seconds_with_teacher'])} "
            f"| {run['target_epoch'] or 'not reached'} | {_seconds(run['target_seconds'])} "
            f"| {_seconds(run['target_seconds_with_teacher'])} |"
        )
    if payload["skipped"]:
        lines += ["", f"Left out (no per-epoch test accuracy or seconds): {', '.join(payload['skipped'])}."]
    return "\n".join(lines) + "\n"


def plot(path, payload):
    """Test accuracy against training seconds, one colour per run: solid the model alone, dashed with its
    teacher; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5.5))
    for index, run in enumerate(payload["runs"]):
        points = [e for e in run["epochs"] if e["test_accuracy"] is not None and e["train_seconds"] is not None]
        color = f"C{index % 10}"
        accuracy = [100 * e["test_accuracy"] for e in points]
        axis.plot([e["train_seconds"] for e in points], accuracy, "-", marker=".", color=color, label=run["label"])
        with_teacher = [e["train_seconds_with_teacher"] for e in points]
        if points and None not in with_teacher and run["train_seconds_with_teacher"] != run["train_seconds"]:
            axis.plot(with_teacher, accuracy, "--", color=color)
    axis.axhline(100 * payload["target"], color="black", linewidth=0.8, linestyle=":")
    axis.set_xlabel("training seconds (solid: the model alone; dashed: with its teacher's training and cache fill)")
    axis.set_ylabel("test accuracy %")
    axis.set_title(f"Time to accuracy (dotted: the {_percent(payload['target'])}% target)")
    axis.grid(True, alpha=0.3)
    if payload["runs"]:
        axis.legend(loc="lower right")
    figure.tight_layout()
    io.replace_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    plt.close(figure)


def write(output_dir, payload):
    """Writes `time_to_accuracy.json`, `.md` and `.png` into `output_dir`, each atomically; returns their paths."""
    paths = [os.path.join(output_dir, name) for name in NAMES]
    io.write_json_atomic(paths[0], payload)
    text = markdown(payload)

    def write_text(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    io.replace_atomic(paths[1], write_text)
    plot(paths[2], payload)
    return paths
