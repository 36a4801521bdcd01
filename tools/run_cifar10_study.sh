#!/usr/bin/env bash
# The CIFAR-10 study (issue 12), in the background and resumable (see tools/run_study.sh):
#   nohup tools/run_cifar10_study.sh >> runs/study/cifar10.log 2>&1 &
# Unpacks the JPEG copy into data/ on first use; without the committed shared teacher
# (results/cifar10/teacher/student.keras, which every row pairs with), trains the ResNet26 teacher of
# configs/study/cifar10_teacher.flags into runs/study/cifar10/teacher and keeps it there with its records;
# then runs the study, which keeps each run's small records in results/cifar10/records/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d data/cifar10-jpeg/train ]; then
  mkdir -p data/cifar10-jpeg
  tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C data/cifar10-jpeg
fi
kept=results/cifar10/teacher
if [ ! -f "$kept/student.keras" ]; then
  trained=runs/study/cifar10/teacher
  idle() { if command -v chrt >/dev/null; then chrt --idle 0 "$@"; else nice -n 19 "$@"; fi; }
  idle python -m kdkeras.train --flagfile=configs/study/cifar10_teacher.flags
  mkdir -p "$kept"
  shopt -s nullglob
  cp "$trained"/*.json "$trained"/*.csv "$kept"/  # its records
  test -f "$kept/results.json"
  cp "$trained/student.keras" "$kept/.student.keras.partial" && mv "$kept/.student.keras.partial" "$kept/student.keras"
  echo "[study] the shared teacher is kept in $kept; commit it with its records"
fi
exec tools/run_study.sh configs/compare/cifar10_study.flags
