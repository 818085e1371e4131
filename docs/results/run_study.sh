#!/usr/bin/env bash
# The calibration study for text (Kim CNN, GloVe 6B 50d, on MR and TREC, 5 seeds): every training
# method × every post-hoc calibrator, conformal sets (LAC, APS, RAPS at α = 0.1 and 0.05) after each
# calibrator, selective prediction, and for MR the IMDB test reviews as a shifted domain
# (calibrators and conformal thresholds fitted in-domain). Mixup at the best α of the CNN study
# (MR 1.0, TREC 0.1); every other method with its paper's settings (its recipe). 30% of validation
# (stratified, seeded) calibrates the conformal sets only; the rest selects the epoch and fits the
# calibrators. JOBS=N runs N sweeps (one method on one dataset, 5 seeds each) at once, one thread
# each: JOBS=2 on a 2-core CPU keeps both cores busy to the end. Restartable: finished runs are
# skipped, interrupted ones resumed. Then `textmix report` ranks the method × calibrator cells. Usage:
#   TEXTMIX_DATA_DIR=../shared/data JOBS=2 bash docs/results/run_study.sh [runs/study_calibration]
set -euo pipefail
out=${1:-runs/study_calibration}
jobs=${JOBS:-1}
methods="baseline mixup regmixup label_smoothing erl camixup rankmixup mit kernel_mixup aum_mixup focal mbls"

sweep() {  # sweep DATASET METHOD
  local ds=$1 method=$2 calibrators="temperature, vector, dirichlet, ensemble_temperature, histogram, isotonic"
  local extra=(--set "eval.shift=[]")
  local scores="lac, aps, raps"  # two classes (MR): LAC only; non-randomized APS / RAPS are refused there
  if [ "$ds" = mr ]; then calibrators="$calibrators, platt, beta"; extra=(--set "eval.shift=[imdb]"); scores=lac; fi
  if [ "$method" = mixup ]; then extra+=(--set "mixup.alpha=$([ "$ds" = mr ] && echo 1.0 || echo 0.1)"); fi
  textmix sweep "recipes/$ds/kim_cnn_$method.yaml" --seeds 1,2,3,4,5 --out "$out/$ds/$method" \
    --set "eval.calibrators=[$calibrators]" \
    --set "eval.conformal={alpha: [0.1, 0.05], methods: [$scores], split: 0.3}" "${extra[@]}"
}
export -f sweep
export out
threads=1
if [ "$jobs" = 1 ]; then threads=${OMP_NUM_THREADS:-$(nproc)}; fi
for method in $methods; do echo "mr $method"; echo "trec $method"; done |
  OMP_NUM_THREADS=$threads xargs -P "$jobs" -L 1 bash -c 'sweep "$0" "$1"'
textmix report "$out"/mr/* --out docs/results/study/mr
textmix report "$out"/trec/* --out docs/results/study/trec
