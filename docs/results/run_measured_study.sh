#!/usr/bin/env bash
# The calibration study re-measured at the resolution issue 38 asks for (Kim CNN, GloVe 6B 50d, MR and
# TREC): 5 training methods (baseline, mixup at the CNN study's best α, MIT, RegMixup, label
# smoothing) × 3 training seeds × 3 split seeds, every post-hoc calibrator, conformal sets (LAC, APS,
# RAPS at α = 0.1 and 0.05 on 30% of validation carved for them), and for MR the 25,000 IMDB test
# reviews as a shifted domain. Every metrics.json holds smooth and debiased ECE and the noise floor
# of each calibration error; `textmix report` pairs runs by (seed, split seed), adjusts each table's
# comparisons with Holm's method and separates seed and split variance. JOBS=N runs N sweeps at
# once, one thread each. Restartable: finished runs are skipped, interrupted ones resumed. Usage:
#   TEXTMIX_DATA_DIR=../shared/data JOBS=2 bash docs/results/run_measured_study.sh [runs/study_measured]
set -euo pipefail
out=${1:-runs/study_measured}
jobs=${JOBS:-1}
methods="baseline mixup mit regmixup label_smoothing"

sweep() {  # sweep DATASET METHOD
  local ds=$1 method=$2 calibrators="temperature, vector, matrix, dirichlet, ensemble_temperature, histogram, isotonic"
  local extra=(--set "eval.shift=[]")
  local scores="lac, aps, raps"  # two classes (MR): LAC only; non-randomized APS / RAPS are refused there
  if [ "$ds" = mr ]; then calibrators="$calibrators, platt, beta"; extra=(--set "eval.shift=[imdb]"); scores=lac; fi
  if [ "$method" = mixup ]; then extra+=(--set "mixup.alpha=$([ "$ds" = mr ] && echo 1.0 || echo 0.1)"); fi
  textmix sweep "recipes/$ds/kim_cnn_$method.yaml" --seeds 1,2,3 --split-seeds 1,2,3 --out "$out/$ds/$method" \
    --set "eval.calibrators=[$calibrators]" \
    --set "eval.conformal={alpha: [0.1, 0.05], methods: [$scores], split: 0.3}" "${extra[@]}"
}
export -f sweep
export out
threads=1
if [ "$jobs" = 1 ]; then threads=${OMP_NUM_THREADS:-$(nproc)}; fi
for method in $methods; do echo "mr $method"; echo "trec $method"; done |
  OMP_NUM_THREADS=$threads xargs -P "$jobs" -L 1 bash -c 'sweep "$0" "$1"'
textmix report "$out"/mr/* --out docs/results/measured/mr
textmix report "$out"/trec/* --out docs/results/measured/trec
