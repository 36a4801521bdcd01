#!/usr/bin/env bash
# The CIFAR-10 study (issue 12), in the background and resumable: run it again after any stop and it
# goes on where it stopped (finished models are loaded, the unfinished one resumes from its last backup).
#   nohup tools/run_cifar10_study.sh > runs/study/cifar10.log 2>&1 &
# It runs at the lowest CPU priority (SCHED_IDLE where available), so it never competes with timings.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d data/cifar10-jpeg/train ]; then
  mkdir -p data/cifar10-jpeg
  tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C data/cifar10-jpeg
fi
idle() { if command -v chrt >/dev/null; then chrt --idle 0 "$@"; else nice -n 19 "$@"; fi; }
idle python -m kdkeras.train --flagfile=configs/study/cifar10_teacher.flags
idle python tools/compare.py --flagfile=configs/compare/cifar10_study.flags
