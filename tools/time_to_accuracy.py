#!/usr/bin/env python
"""Time to accuracy: runs' test accuracy against their training seconds, epoch by epoch (issue 31).

    python tools/time_to_accuracy.py --runs=nokd=runs/mlperf_tiny/nokd,blkd=runs/mlperf_tiny/blkd \\
        --target=0.85 --output_dir=results/mlperf_tiny

Each `--runs` folder is a kdkeras run folder or a study's records folder
(`RESULTS_DIR/records/<method>/seed<k>`), holding `results.json` and the
history of its final model, trained with `--test_every_epoch`. Writes into
`--output_dir` (each file atomically):

- `time_to_accuracy.json`: per run, each epoch's `(epoch, train_seconds,
  test_accuracy)`, the final model's training seconds alone and with its
  teachers' training and teacher cache fill, and the first epoch and
  seconds at which it reaches `--target` (null when it never does);
- `time_to_accuracy.md`: the table;
- `time_to_accuracy.png`: accuracy against seconds, one colour per run,
  solid the model alone, dashed with its teacher.

A run whose history lacks the per-epoch columns is said in one line and
left out. `kdkeras.study.time_to_accuracy` says what is read and how.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kdkeras import cli  # noqa: E402
from kdkeras.errors import UsageError, check  # noqa: E402
from kdkeras.study import time_to_accuracy  # noqa: E402

flags.DEFINE_string("runs", None, "label=DIR,...: kdkeras run folders or a study's records folders")
flags.DEFINE_float("target", time_to_accuracy.DEFAULT_TARGET, "the test accuracy to reach, a fraction (0.85: 85%)")
flags.DEFINE_string("output_dir", None, "where time_to_accuracy.json, .md and .png go")
FLAGS = flags.FLAGS


@cli.run
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    runs = time_to_accuracy.parse_runs(FLAGS.runs)
    check(FLAGS.output_dir, "--output_dir: expected the folder the files go to")
    payload = time_to_accuracy.time_to_accuracy(runs, FLAGS.target)
    check(
        payload["runs"],
        "--runs: no run has per-epoch test accuracy and training seconds (train with --test_every_epoch)",
    )
    payload = {"command": " ".join(["python tools/time_to_accuracy.py", *sys.argv[1:]]), **payload}
    for run in payload["runs"]:
        if run["target_epoch"] is None:
            print(f"[time_to_accuracy] {run['label']}: never reaches {100 * FLAGS.target:.2f}%")
        else:
            with_teacher = run["target_seconds_with_teacher"]
            print(
                f"[time_to_accuracy] {run['label']}: {100 * FLAGS.target:.2f}% at epoch {run['target_epoch']}, "
                f"{run['target_seconds']:,.1f} s"
                + ("" if with_teacher is None else f" ({with_teacher:,.1f} s with its teacher)")
            )
    paths = time_to_accuracy.write(FLAGS.output_dir, payload)
    print(f"[time_to_accuracy] wrote {', '.join(paths)}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
