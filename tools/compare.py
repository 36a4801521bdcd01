#!/usr/bin/env python
"""`python tools/compare.py --flagfile=configs/compare/mnist_sample.flags`: KD methods compared on one recipe.

Plans one `kdkeras.train` run per method and seed (every training flag is
the shared recipe), runs them in this process in `output_dir/<method>/seed<k>`,
then tabulates and plots (`kdkeras.study`). Files in `--results_dir`
(default `--output_dir`), refreshed after every run (each written atomically):

- `results.csv`: one row per method and seed;
- `results.md`: per method the student's accuracy (mean ± std, the
  per-seed values), its difference to BLKD paired by seed with a 95%
  t-interval, the teacher, the cost (training seconds, images through each
  network, FLOPs) and the int8 TFLite file (size, accuracy); the check
  against a peer (`--peer`, or typed `--reference` numbers); the study's
  total work, each model and each cache fill counted once;
- `cost.png`, `delta.png`, `curves.png`: accuracy against cost, each
  method's difference to BLKD, the training curves;
- `records/<method>/seed<k>/` (when `--results_dir` is apart from
  `--output_dir`): each run's small records, and `teacher/` the
  `--teacher_checkpoint` model with its records, so `--report_only`
  rebuilds the tables in a clone without the runs.

The shared teacher is `--teacher_checkpoint` for every seed (as RepDistiller
does), or else trained once per seed in `output_dir/teacher/seed<k>`. Every
run shares `output_dir/models` (`--model_store`), so a model two methods
have in common is trained once. A run whose `results.json` exists is not
repeated: the same command resumes.

Variants of a method join the comparison under their own name:
`--variant=wskd_swap:wskd:wskd_correction=swap` and `--methods=...,wskd_swap`.
`--extra_methods` run on `--extra_seeds` only, after every seed of
`--methods`, so the core rows fill first. `--run_only=wskd,wskd_v1@0`
trains part of a study now (a flagfile for one of its questions) while
the report stays the whole study's.
"""

import sys

from absl import app, flags  # noqa: E402

from kdkeras import cli  # noqa: E402
from kdkeras.errors import UsageError  # noqa: E402
from kdkeras.study import plan as study_plan  # noqa: E402
from kdkeras.study import run as study_run  # noqa: E402

study_plan.define_flags()
FLAGS = flags.FLAGS


@cli.run(on_interrupt=cli.RESUME_HINT)
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    plan = study_plan.plan_from_flags(FLAGS, sys.argv)
    if FLAGS.report_only:
        print(f"[compare] wrote {study_run.publish(plan)} from the finished runs; nothing trained")
        return
    runs = plan.runs_to_train()
    print(f"[compare] {len(runs)} runs in {plan.output_dir}", flush=True)
    with cli.naming_flag("--dataset", plan.recipe.dataset):
        failed = study_run.run_all(plan)
    if failed:
        print(
            f"[compare] {len(failed)} runs failed: {', '.join(failed)}; run the same command again to retry them",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
