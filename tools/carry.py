#!/usr/bin/env python
"""Unfinished runs carried across machines in git: `python tools/carry.py save RUN_DIR...` and `restore`.

A session may start on a new machine where the ignored `runs/` folder is
gone, so a run longer than one session would start over every time. A run
resumes from its backups (`kdkeras.pipelines.backup`) and its finished
models (`Run.load_finished`), so those are what is carried:

    python tools/carry.py save runs/mlperf_tiny/nokd runs/mlperf_tiny/blkd   # before a session ends; commit carry/
    python tools/carry.py restore                                            # on the new machine, before training

`save` copies, for each run folder not finished (no `results.json`), into
`carry/<RUN_DIR relative to the checkout>/`:

- every backup of a model still in training: `backup/<role>[/worker<i>]/latest.json`
  and the one `.weights.h5` it names (weights and optimizer state; the
  seconds and commits so far are in `latest.json`);
- every finished model, `<role>.keras` with its record `<role>.json`: the
  run started again loads each one instead of training it (a TAKD
  assistant, the run's own teacher, a GSKD stage), so a multi-model run
  goes on with the model it was training;
- the run's small records (`kdkeras.study.records.small_records`: every
  `.json`/`.csv` outside `logs/`), less the caches' headers.

Never teacher caches (`.npy`, filled again by the run), TensorBoard logs,
`.tflite` files, or a finished model's leftover backup (`Run.load_finished`
deletes it). Every file is written to a temporary name and renamed, a
backup's weights before the `latest.json` naming them, so a carry is whole
at every moment; the carry's older weights file goes once the backup moved
on. A finished run's carry is removed (its results belong in `results/`). A
carry ahead of the run folder (a run started afresh on a new machine before
`restore`) is never overwritten.

`restore` copies every `carry/<path>/` back into `<path>/` where the run
folder has no backup or older ones, so the run's own command resumes; it
never overwrites a newer backup, and skips a run folder another process
holds (its `claim.lock`) or one that finished.

Progress is compared model by model: a finished model is ahead of any
backup, and backups compare by `latest.json`'s epoch, then batch. A carry
is restored only when it is ahead on some model and behind on none (and
saved only in the opposite case).

A run's `--teacher_checkpoint` (another run's model, as in
`configs/edge/mlperf_blkd.flags`) is not part of its folder and is not
carried: `save` says so; keep that model where the command finds it.
"""

import fcntl
import json
import os
import shutil
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kdkeras import cli, io  # noqa: E402
from kdkeras.errors import UsageError  # noqa: E402
from kdkeras.run_directory import CLAIM_FILE  # noqa: E402
from kdkeras.study.records import copy_file, small_records  # noqa: E402

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string(
    "checkout", CHECKOUT, "the checkout whose runs are carried; they go into its folder carry/ (default: this one)"
)
FLAGS = flags.FLAGS

CARRY = "carry"
RESULTS = "results.json"  # a finished run (`kdkeras.experiment`)
RUN_RECORD = "run.json"  # every run's settings, written when it starts (`run_directory.check_settings`)
BACKUP = "backup"  # `<run>/backup/<role>[/worker<i>]/`, as `FitLoop._backup` names it
STATE = "latest.json"  # the backup's record, as `kdkeras.pipelines.backup.Backup` names it
WEIGHTS = ".weights.h5"
MODEL = ".keras"
CACHE = "cache"  # the run's teacher caches (`--teacher_cache_dir` by default)
USAGE = "expected `save RUN_DIR...` or `restore`"

FINISHED = (2, 0, 0)  # a finished model is ahead of any backup of it
NOTHING = (0, 0, 0)


# What a folder holds: finished models, backups, records.


def finished_roles(folder):
    """The finished models in `folder`: `<role>.keras` beside its record `<role>.json` (`Run.load_finished`)."""
    if not os.path.isdir(folder):
        return []
    names = os.listdir(folder)
    return sorted(
        name[: -len(MODEL)]
        for name in names
        if name.endswith(MODEL) and not name.startswith(".tmp-") and name[: -len(MODEL)] + ".json" in names
    )


def read_state(path):
    """A backup's `latest.json`: `(state, its bytes)`, checked; `UsageError` naming it when unreadable."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        state = json.loads(raw)
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: unreadable backup record ({error}); expected a backup's latest.json") from None
    weights = state.get("weights") if isinstance(state, dict) else None
    if not (
        isinstance(weights, str)
        and weights.endswith(WEIGHTS)
        and os.path.basename(weights) == weights
        and isinstance(state.get("epoch"), int)
        and isinstance(state.get("batch"), int)
    ):
        raise UsageError(f"{path}: not a backup record; expected integer epoch and batch and a .weights.h5 file name")
    return state, raw


def backups(folder):
    """`{key: state}` for every backup in `folder` whose weights file is there (else `Backup.latest` ignores it too).

    A key is the backup's folder under `backup/`: the role, or `<role>/worker<i>` in a multi-worker run.
    """
    found = {}
    root = os.path.join(folder, BACKUP)
    for here, subfolders, files in os.walk(root):
        subfolders.sort()
        if STATE in files:
            state, _ = read_state(os.path.join(here, STATE))
            if os.path.exists(os.path.join(here, state["weights"])):
                found[os.path.relpath(here, root)] = state
    return found


def role_of(key):
    return key.split("/")[0]


def progress(folder):
    """`{key: (level, epoch, batch)}`: each finished model, and each backup of a model not finished."""
    finished = finished_roles(folder)
    found = {role: FINISHED for role in finished}
    for key, state in backups(folder).items():
        if role_of(key) not in finished:
            found[key] = (1, state["epoch"], state["batch"])
    return found


def level(found, key):
    if key in found:
        return found[key]
    return FINISHED if found.get(role_of(key)) == FINISHED else NOTHING


def ahead(first, second):
    """Whether `first` is ahead of `second` on some model (finished where it is not, or a later backup)."""
    return any(level(first, key) > level(second, key) for key in set(first) | set(second))


def describe(found):
    """Progress in words: `teacher finished, student after epoch 2` (epochs done; a mid-epoch backup by batch)."""
    if not found:
        return "nothing"
    words = []
    for key, (rank, epoch, batch) in sorted(found.items(), key=lambda item: (-item[1][0], item[0])):
        if rank == FINISHED[0]:
            words.append(f"{key} finished")
        elif batch:
            words.append(f"{key} at batch {batch} of epoch {epoch + 1}")
        else:
            words.append(f"{key} after epoch {epoch}")
    return ", ".join(words)


def in_cache(path, run_dir):
    """Whether a record lies in a teacher cache: the run's `cache/`, or a subfolder holding a cache table (`.npy`)."""
    folder = os.path.dirname(path)
    if not folder:
        return False
    if folder.split(os.sep)[0] == CACHE:
        return True
    return any(name.endswith(".npy") for name in os.listdir(os.path.join(run_dir, folder)))


def records(run_dir):
    """The run's small records to carry: `small_records` less the backups' (carried with their weights) and caches'."""
    return [p for p in small_records(run_dir) if p.split(os.sep)[0] != BACKUP and not in_cache(p, run_dir)]


def size(paths):
    return sum(os.path.getsize(p) for p in paths)


def carried_files(folder):
    """Every file under `folder` (relative paths), temporary ones included."""
    found = []
    for here, subfolders, files in os.walk(folder):
        subfolders.sort()
        found += [os.path.relpath(os.path.join(here, f), folder) for f in sorted(files)]
    return found


def remove_empty_folders(folder, stop):
    """Removes `folder` and its parents up to (not including) `stop` while they are empty."""
    folder, stop = os.path.abspath(folder), os.path.abspath(stop)
    while folder != stop and folder.startswith(stop + os.sep) and os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
        folder = os.path.dirname(folder)


# save


def copy_backup(source, destination):
    """Copies the backup in folder `source` to `destination`: the weights it names, then its `latest.json`.

    The run may back up again while this reads (and delete the weights file
    named a moment ago): the record is then read again. Returns
    `(weights name, files written)`, or `(None, 0)` when no weights file
    named stays there.
    """
    for _ in range(5):
        state, record = read_state(os.path.join(source, STATE))
        try:
            written = copy_file(os.path.join(source, state["weights"]), os.path.join(destination, state["weights"]))
        except FileNotFoundError:
            continue  # backed up again meanwhile: read the new record
        written += write_if_changed(os.path.join(destination, STATE), record)
        return state["weights"], written
    return None, 0


def write_if_changed(path, data):
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return 0
    io.write_bytes_atomic(path, data)
    return 1


def save_run(run_dir, checkout):
    """Carries one run folder; returns the line saying what was done."""
    relative = os.path.relpath(run_dir, checkout)
    carry_root = os.path.join(checkout, CARRY)
    carry = os.path.join(carry_root, relative)
    if os.path.exists(os.path.join(run_dir, RESULTS)):
        if not os.path.isdir(carry):
            return f"{relative}: finished ({RESULTS}); nothing carried"
        removed = size(os.path.join(carry, p) for p in carried_files(carry))
        shutil.rmtree(carry)
        remove_empty_folders(os.path.dirname(carry), carry_root)
        return f"{relative}: finished ({RESULTS}); removed its carry ({removed:,} bytes): keep its results in results/"
    mine = progress(run_dir)
    theirs = progress(carry) if os.path.isdir(carry) else {}
    if ahead(theirs, mine):
        return (
            f"{relative}: NOT saved: {CARRY}/{relative} holds {describe(theirs)}, the run folder {describe(mine)}; "
            "restore the carry first (python tools/carry.py restore)"
        )
    if not mine:
        return f"{relative}: nothing to resume yet (no backup, no finished model); nothing carried"

    wanted, written = set(), 0
    finished = finished_roles(run_dir)
    for role in finished:  # the model before its record: a role counts as finished with both
        written += copy_file(os.path.join(run_dir, role + MODEL), os.path.join(carry, role + MODEL))
        wanted.add(role + MODEL)
    weights = 0
    for key in sorted(backups(run_dir)):
        if role_of(key) in finished:
            continue  # the finished model is carried; its backup would be deleted on loading it
        name, changed = copy_backup(os.path.join(run_dir, BACKUP, key), os.path.join(carry, BACKUP, key))
        if name is not None:
            wanted.update({os.path.join(BACKUP, key, name), os.path.join(BACKUP, key, STATE)})
            written += changed
            weights += 1
    kept = records(run_dir)
    for path in kept:  # after the backups: a history has at least the epochs its backup has
        written += copy_file(os.path.join(run_dir, path), os.path.join(carry, path))
    wanted.update(kept)
    dropped = 0
    for path in carried_files(carry):
        if path not in wanted:
            os.remove(os.path.join(carry, path))
            remove_empty_folders(os.path.dirname(os.path.join(carry, path)), carry)
            dropped += 1
    total = size(os.path.join(carry, p) for p in wanted)
    note = ""
    settings = os.path.join(run_dir, RUN_RECORD)
    if os.path.exists(settings) and _teacher_checkpoint(settings):
        note = "; its --teacher_checkpoint is not carried (keep it where the command finds it)"
    return (
        f"{relative}: carried {describe(progress(carry))} ({len(finished)} models, {weights} backup weights, "
        f"{len(kept)} records) in {CARRY}/{relative}: {total:,} bytes; {written} files written, {dropped} dropped{note}"
    )


def _teacher_checkpoint(settings_path):
    try:
        with open(settings_path) as f:
            settings = json.load(f)
    except (OSError, ValueError):
        return False
    return bool(settings.get("teacher_checkpoint") or settings.get("teacher_checkpoint_sha256"))


def save(run_dirs, checkout):
    """`save`: one line per run folder (each checked first: `UsageError` before anything is written)."""
    checkout = _checked_checkout(checkout)
    folders = [_checked_run_dir(run_dir, checkout) for run_dir in run_dirs]
    if not folders:
        raise UsageError(f"save: no RUN_DIR given; {USAGE}")
    return [save_run(folder, checkout) for folder in folders]


# restore


class _Held:
    """The run folder's claim (`claim.lock`) while restoring: an exclusive `flock`, nothing written in it.

    `holder` is None when taken, else what the claim file says of the process holding it.
    """

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, CLAIM_FILE)
        self.fd = None
        self.holder = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "a process"
            os.close(fd)
            return self
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)


def _restore_order(path):
    """Models before their records, a backup's weights before its `latest.json`, records last."""
    if path.endswith(MODEL):
        return (0, path)
    if path.endswith(WEIGHTS):
        return (1, path)
    if os.path.basename(path) == STATE and path.split(os.sep)[0] == BACKUP:
        return (2, path)
    return (3, path)


def restore_run(carry, relative, checkout):
    """Restores one carried run into `<checkout>/<relative>`; returns the line saying what was done."""
    run_dir = os.path.join(checkout, relative)
    if os.path.exists(os.path.join(run_dir, RESULTS)):
        return f"{relative}: finished ({RESULTS}); not restored (python tools/carry.py save {relative} removes it)"
    theirs = progress(carry)
    mine = progress(run_dir) if os.path.isdir(run_dir) else {}
    if ahead(mine, theirs):
        return f"{relative}: NOT restored: the run folder holds {describe(mine)}, the carry {describe(theirs)}"
    if not ahead(theirs, mine):
        return f"{relative}: up to date ({describe(mine)}); nothing restored"
    with _Held(run_dir) as held:
        if held.holder is not None:
            return f"{relative}: NOT restored: the run folder is in use ({held.holder})"
        files = sorted(
            (p for p in carried_files(carry) if not os.path.basename(p).startswith(".tmp-")), key=_restore_order
        )
        written = sum(copy_file(os.path.join(carry, p), os.path.join(run_dir, p)) for p in files)
        dropped = 0
        for key, state in backups(carry).items():  # the run's older weights, no longer named
            folder = os.path.join(run_dir, BACKUP, key)
            for name in os.listdir(folder):
                if name.endswith(WEIGHTS) and name != state["weights"]:
                    os.remove(os.path.join(folder, name))
                    dropped += 1
    total = size(os.path.join(carry, p) for p in files)
    return (
        f"{relative}: restored {describe(theirs)} from {CARRY}/{relative} (the run folder had {describe(mine)}): "
        f"{len(files)} files, {total:,} bytes; {written} written, {dropped} older weights files dropped"
    )


def carried_runs(carry_root):
    """The carried run folders under `carry_root` (each holds `run.json`), as paths relative to it, sorted."""
    found = []
    for here, subfolders, files in os.walk(carry_root):
        subfolders.sort()
        if RUN_RECORD in files:
            found.append(os.path.relpath(here, carry_root))
            subfolders[:] = []
    return found


def restore(checkout):
    """`restore`: one line per carried run."""
    checkout = _checked_checkout(checkout)
    carry_root = os.path.join(checkout, CARRY)
    runs = carried_runs(carry_root) if os.path.isdir(carry_root) else []
    if not runs:
        return [f"nothing carried in {carry_root}"]
    return [restore_run(os.path.join(carry_root, relative), relative, checkout) for relative in runs]


# The command.


def _checked_checkout(checkout):
    if not os.path.isdir(checkout):
        raise UsageError(f"--checkout={checkout}: no such folder; expected the checkout whose runs are carried")
    return os.path.abspath(checkout)


def _checked_run_dir(run_dir, checkout):
    """`run_dir` as an absolute path inside `checkout`, a run's folder; else `UsageError` naming it."""
    path = os.path.abspath(run_dir)
    relative = os.path.relpath(path, checkout)
    if relative == os.curdir or relative.split(os.sep)[0] in (os.pardir, CARRY):
        raise UsageError(
            f"RUN_DIR {run_dir}: outside the checkout's run folders; expected a run's --output_dir inside {checkout} "
            f"and not in {CARRY}/"
        )
    if not os.path.isdir(path):
        raise UsageError(f"RUN_DIR {run_dir}: no such folder; expected a run's --output_dir")
    if not os.path.isfile(os.path.join(path, RUN_RECORD)):
        raise UsageError(
            f"RUN_DIR {run_dir}: not a run folder (no {RUN_RECORD}); expected the --output_dir of a kdkeras.train run"
        )
    return path


def command(args, checkout):
    """Runs `save RUN_DIR...` or `restore` (`args`, without the program); returns the lines to print."""
    if not args:
        raise UsageError(f"no command; {USAGE}")
    name, rest = args[0], args[1:]
    if name == "save":
        return save(rest, checkout)
    if name == "restore":
        if rest:
            raise UsageError(f"restore: unexpected arguments {' '.join(rest)}; it restores every carried run")
        return restore(checkout)
    raise UsageError(f"unknown command {name!r}; {USAGE}")


@cli.run
def main(argv):
    for line in command(argv[1:], FLAGS.checkout):
        print(line, flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
