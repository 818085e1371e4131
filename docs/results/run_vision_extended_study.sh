#!/usr/bin/env bash
# CIFAR-10 on a CPU, trained until the baseline is overconfident (the paper's regime): the narrow
# PreAct ResNet of cifar10_small_*.yaml on a 10k-image subset for 45 epochs (lr / 10 at epochs 30
# and 38), baseline vs input mixup alpha 0.1, 0.2, 0.4 and 1.0, seed 1. Runs train $JOBS at a time
# (default 3), one CPU thread each; restartable (finished runs are skipped). Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_vision_extended_study.sh [runs/vision_extended]
set -euo pipefail
export out=${1:-runs/vision_extended} OMP_NUM_THREADS=1
train_setting() {  # "baseline" or a mixup alpha
  local long=(--set train.epochs=45 --set data.max_train_examples=10000 --set 'optim.milestones=[30,38]')
  if [ "$1" = baseline ]; then
    textmix sweep recipes/vision/cifar10_small_baseline.yaml "${long[@]}" --out "$out/baseline"
  else
    textmix sweep recipes/vision/cifar10_small_mixup.yaml "${long[@]}" --grid "mixup.alpha=$1" --out "$out/mixup"
  fi
}
export -f train_setting
# xargs exits non-zero when any run fails, which stops the script before the report
printf '%s\n' baseline 1.0 0.4 0.2 0.1 | xargs -P "${JOBS:-3}" -I{} bash -c 'train_setting {}'
textmix report "$out/baseline" "$out/mixup" --out docs/results/vision/extended
