#!/usr/bin/env bash
# This round's long runs, one queue, in the background at the lowest CPU priority, resumable: run it again after
# any stop and every step goes on where it stopped (finished models are loaded, an unfinished one resumes from its
# last backup, a finished study only rewrites its report).
#   nohup tools/run_queue.sh >> runs/queue.log 2>&1 &
# Pause it for a benchmark with `kill -STOP -- -PGID` (the queue's process group; `kill -CONT` goes on).
# Steps, in the order the round asks for:
#   1. the CIFAR-10 shared teacher of round 2 (configs/study/cifar10_teacher.flags), kept in
#      results/cifar10_round2/teacher/;
#   2. WSKD's step 2 on seed 0: the errors alone in training mode (`wskd`, the default) beside the full batch
#      (`wskd_full_batch`) and BLKD (configs/compare/cifar10_round2_step2.flags, `--run_only`);
#   3. WSKD's re-runs and BLKD, 3 seeds each (configs/compare/cifar10_round2_wskd.flags);
#   4. the PyTorch peer of the CIFAR-10 recipe (tools/torch_peer.py, with the [peer] extra);
#   5. the rest of the CIFAR-10 study's round 2 (configs/compare/cifar10_round2.flags);
#   6. the MNIST study's shared teacher (configs/study/mnist_teacher.flags), kept in results/mnist/teacher/, the
#      check of its length (configs/study/mnist_epochs_check.flags: NOKD for 20 epochs, records kept in
#      results/mnist/epochs_check/), then the study (configs/compare/mnist_study.flags);
#   7. the MLPerf Tiny recipe (configs/edge/: the teacher, kept in results/mlperf_tiny/teacher/, then NOKD, BLKD and
#      DIST students of mlperf_resnet8 and DIST's loss-scale control, BLKD with its loss times 5, the distilled
#      ones sharing one teacher cache, each kept with its model and int8 file in results/mlperf_tiny/<run>/), then
#      its figures: results/mlperf_tiny/students.json and .md (each
#      student beside the reference files, paired with the int8 one), time_to_accuracy.{json,md,png} and the C
#      files of the DIST student (results/mlperf_tiny/dist/student_int8.{cc,h}, _ops.h).
# Before a session stops, `python tools/carry.py save RUN_DIR` of the unfinished run, committed, lets the next
# session (perhaps on another machine) resume it. A method's run whose records are kept in results/ (an earlier
# session, perhaps on another machine) is not trained again; nor is a shared teacher kept there, whose model every
# later row must pair with. A step that fails is reported and the queue goes on with the next; its own command
# resumes it.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
say() { echo "[queue] $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }
idle() { if command -v chrt >/dev/null; then chrt --idle 0 "$@"; else nice -n 19 "$@"; fi; }
step() {
  local name=$1
  shift
  say "start: $name"
  if "$@"; then say "done: $name"; else say "FAILED ($?): $name; run the queue again to resume it"; fi
}

# Runs an earlier session carried in carry/ (tools/carry.py save, committed before it stopped) go on here.
[ -d carry/runs ] && python tools/carry.py restore
if [ ! -d data/cifar10-jpeg/train ]; then
  mkdir -p data/cifar10-jpeg && tar xzf ../shared/datasets/cifar10-jpeg.tar.gz -C data/cifar10-jpeg
fi
if [ ! -d data/cifar10-png/train ]; then
  mkdir -p data/cifar10-png && cat ../shared/datasets/cifar10-png/cifar10-png.tar.gz.part-* | tar xz -C data/cifar10-png
fi

# keep_run FLAGFILE TRAINED_DIR KEPT_DIR [model]: trains the run of FLAGFILE (or finds it finished) and keeps its
# records (and, with "model", its model and its int8 file if it exported one) in KEPT_DIR, once; a kept run is never
# trained again. A shared teacher is kept with its model: every later row must pair with it. The files are copied
# before the records, each to a temporary name first, so a stop half-way leaves no kept run with a broken file.
keep_run() {
  local flagfile=$1 trained=$2 kept=$3 model=${4:-} file
  [ -f "$kept/results.json" ] && return 0
  idle python -m kdkeras.train --flagfile="$flagfile" || return 1
  mkdir -p "$kept"
  if [ "$model" = model ]; then
    for file in student.keras student_int8.tflite; do
      [ -f "$trained/$file" ] || continue
      cp "$trained/$file" "$kept/.$file.partial" && mv "$kept/.$file.partial" "$kept/$file" || return 1
    done
  fi
  cp "$trained"/*.csv "$kept"/ && cp "$trained"/*.json "$kept"/
}
keep_teacher() { keep_run "$@" model; }

peer() {
  [ -f results/cifar10/peer.json ] && return 0  # kept: its runs are not trained or rewritten again
  python -c "import torch" 2>/dev/null || python -m pip install --quiet -e ".[peer]" || return 1
  idle python tools/torch_peer.py
}

mlperf() {
  keep_teacher configs/edge/mlperf_teacher.flags runs/mlperf_tiny/teacher results/mlperf_tiny/teacher || return 1
  local part kept students=() runs=(teacher=results/mlperf_tiny/teacher)
  for part in nokd blkd dist blkd_loss_weight5; do
    kept=results/mlperf_tiny/$part
    keep_run "configs/edge/mlperf_$part.flags" "runs/mlperf_tiny/$part" "$kept" model || return 1
    students+=("$part=$kept/student_int8.tflite")
    runs+=("$part=$kept")
  done
  # The figures of issue 31 from the kept records: the students beside the reference files on both test sets,
  # paired with its int8 file; time to 85%; the C files of DIST's int8 student, the recipe's named student.
  local IFS=,
  idle python tools/mlperf_reference.py --nochecks --work_dir=runs/mlperf_tiny/students \
    --output=results/mlperf_tiny/students.json --students="${students[*]}" || return 1
  idle python tools/time_to_accuracy.py --runs="${runs[*]}" --target=0.85 --output_dir=results/mlperf_tiny || return 1
  idle python -m edge.c_array --model=results/mlperf_tiny/dist/student_int8.tflite
}

step "CIFAR-10 shared teacher" keep_teacher configs/study/cifar10_teacher.flags runs/study/cifar10/teacher results/cifar10_round2/teacher
step "CIFAR-10 round 2: WSKD's step 2 on seed 0" tools/run_study.sh configs/compare/cifar10_round2_step2.flags
step "CIFAR-10 round 2: WSKD, 3 seeds" tools/run_study.sh configs/compare/cifar10_round2_wskd.flags
step "PyTorch peer" peer
step "CIFAR-10 round 2" tools/run_study.sh configs/compare/cifar10_round2.flags
step "MNIST shared teacher" keep_teacher configs/study/mnist_teacher.flags runs/study/mnist/teacher results/mnist/teacher
step "MNIST length check" keep_run configs/study/mnist_epochs_check.flags runs/study/mnist/epochs_check results/mnist/epochs_check
step "MNIST study" tools/run_study.sh configs/compare/mnist_study.flags
step "MLPerf Tiny recipe" mlperf
say "queue finished"
