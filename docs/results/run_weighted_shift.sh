#!/usr/bin/env bash
# Conformal sets under covariate shift, MR → IMDB (Kim CNN, the README main job's mixup and the
# baseline, 3 seeds): LAC sets at α = 0.1 and 0.05 calibrated on 30% of the MR validation reviews
# (carved, stratified, seeded), measured on the 25,000 IMDB test reviews plain and weighted
# (weighted split conformal, Tibshirani et al. 2019: each calibration review and IMDB review
# weighted by the likelihood ratio a logistic-regression domain classifier estimates from the
# model's pooled features; no IMDB label is used). Abstention with a guarantee at ε = 0.1 and 0.2
# rides along. Restartable: finished runs are skipped. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_weighted_shift.sh [runs/weighted_shift]
set -euo pipefail
out=${1:-runs/weighted_shift}
for name in mixup baseline; do
  textmix sweep recipes/mr/kim_cnn_$name.yaml --seeds 1,2,3 --out $out/$name --set "eval.shift=[imdb]" \
    --set "eval.conformal={alpha: [0.1, 0.05], split: 0.3}" --set "eval.risk_control={risk: [0.1, 0.2]}"
done
textmix report $out/mixup $out/baseline --out docs/results/weighted_shift --figures conformal
