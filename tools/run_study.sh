#!/usr/bin/env bash
# A study of tools/compare.py in the background, resumable: run it again after any stop and it goes on where
# it stopped (finished models are loaded, the unfinished one resumes from its last backup).
#   nohup tools/run_study.sh configs/compare/mnist_sample_study.flags >> runs/study/mnist_sample.log 2>&1 &
#   tools/run_study.sh COMPARE_FLAGFILE [TEACHER_FLAGFILE]
# With TEACHER_FLAGFILE, `python -m kdkeras.train --flagfile=TEACHER_FLAGFILE` first trains (or finds finished)
# the teacher the study's --teacher_checkpoint names. It runs at the lowest CPU priority (SCHED_IDLE where
# available), so it never competes with timings.
#
# It runs the code of a snapshot of this checkout (a detached git worktree of HEAD in runs/study/code/<commit>),
# with data/, runs/ and results/ of the checkout: editing or pulling the checkout during a run of many hours
# cannot mix two versions of the code in one process (modules are imported as they are first needed). A restart
# takes the checkout's HEAD of then; every results.json names the commits that trained its models.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1" ] || { [ $# -eq 2 ] && [ ! -f "$2" ]; }; then
  echo "usage: tools/run_study.sh COMPARE_FLAGFILE [TEACHER_FLAGFILE] (existing flagfiles)" >&2
  exit 2
fi
root=$(realpath "$(dirname "$0")/..")
# Relative to the checkout where they lie in it, so a report names its command as a clone would run it.
study=$(realpath --relative-base="$root" "$1")
teacher=$([ $# -eq 2 ] && realpath --relative-base="$root" "$2" || true)
cd "$root"
code="runs/study/code/$(git rev-parse --short HEAD)"
if [ ! -d "$code" ]; then
  git worktree add --detach "$code" HEAD
fi
echo "[study] running the code of $(git -C "$code" log -1 --format='%h %s' | cut -c1-100)"
idle() { if command -v chrt >/dev/null; then chrt --idle 0 "$@"; else nice -n 19 "$@"; fi; }
# -P: the snapshot on PYTHONPATH, not the checkout in the working directory, provides kdkeras.
export PYTHONPATH="$PWD/$code"
if [ -n "$teacher" ]; then
  idle python -P -m kdkeras.train --flagfile="$teacher"
fi
idle python -P "$code/tools/compare.py" --flagfile="$study"
