#!/usr/bin/env bash
# The CIFAR-10 study (issue 12), in the background and resumable: run it again after any stop and it
# goes on where it stopped (finished models are loaded, the unfinished one resumes from its last backup).
#   nohup tools/run_cifar10_study.sh > runs/study/cifar10.log 2>&1 &
# It runs at the lowest CPU priority (SCHED_IDLE where available), so it never competes with timings.
#
# It runs the code of a snapshot of this checkout (a detached git worktree of HEAD in runs/study/code/<commit>),
# with data/, runs/ and results/ of the checkout: editing or pulling the checkout during a run of many hours
# cannot mix two versions of the code in one process (modules are imported as they are first needed). A restart
# takes the checkout's HEAD of then; every results.json names the commit that wrote it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d data/cifar10-jpeg/train ]; then
  mkdir -p data/cifar10-jpeg
  tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C data/cifar10-jpeg
fi
code="runs/study/code/$(git rev-parse --short HEAD)"
if [ ! -d "$code" ]; then
  git worktree add --detach "$code" HEAD
fi
echo "[study] running the code of $(git -C "$code" log -1 --format='%h %s' | cut -c1-100)"
idle() { if command -v chrt >/dev/null; then chrt --idle 0 "$@"; else nice -n 19 "$@"; fi; }
# -P: the snapshot on PYTHONPATH, not the checkout in the working directory, provides kdkeras.
export PYTHONPATH="$PWD/$code"
idle python -P -m kdkeras.train --flagfile=configs/study/cifar10_teacher.flags
idle python -P "$code/tools/compare.py" --flagfile=configs/compare/cifar10_study.flags
