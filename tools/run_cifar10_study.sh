#!/usr/bin/env bash
# The CIFAR-10 study (issue 12), in the background and resumable (see tools/run_study.sh):
#   nohup tools/run_cifar10_study.sh >> runs/study/cifar10.log 2>&1 &
# Unpacks the JPEG copy into data/ on first use, trains the shared ResNet26 teacher, then runs the study.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d data/cifar10-jpeg/train ]; then
  mkdir -p data/cifar10-jpeg
  tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C data/cifar10-jpeg
fi
exec tools/run_study.sh configs/compare/cifar10_study.flags configs/study/cifar10_teacher.flags
