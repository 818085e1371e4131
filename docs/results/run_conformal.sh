#!/usr/bin/env bash
# Conformal prediction sets on MR (Kim CNN, seed 1): the README main job (mixup α = 0.4) and the MR
# baseline, each with eval.conformal: 30% of the validation reviews carved (stratified, seeded) for
# conformal calibration only (the other 70% select the epoch and fit temperature scaling), LAC, APS,
# RAPS and SAPS at α = 0.1 and 0.05, on raw and on temperature-scaled probabilities. Then
# `textmix report` tables coverage and set size per method and draws set size against coverage.
# Restartable: finished runs are skipped. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_conformal.sh [runs/conformal]
set -euo pipefail
out=${1:-runs/conformal}
conformal="{alpha: [0.1, 0.05], methods: [lac, aps, raps, saps], split: 0.3, randomized: true}"
for name in mixup baseline; do
  textmix sweep recipes/mr/kim_cnn_$name.yaml --seeds 1 --out $out/$name --set "eval.conformal=$conformal"
done
textmix report $out/mixup $out/baseline --out docs/results/conformal --figures conformal
