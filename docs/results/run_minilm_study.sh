#!/usr/bin/env bash
# The calibration study on MiniLM (issue 40): all-MiniLM-L6-v2 with the stock head (pooling: pooler,
# the recipes' default) fine-tuned on MR; methods baseline, embedding mixup (α = 0.4), MIT and RegMixup
# with their recipes' settings; 3 seeds; every post-hoc calibrator; LAC conformal sets at α = 0.1 and
# 0.05 on 30% of validation carved for them; the 25,000 IMDB test reviews as a shifted domain
# (calibrators and conformal thresholds fitted in-domain); smooth / debiased ECE and the noise floors
# in every metrics.json, Holm-adjusted paired comparisons in the report. The same settings as the Kim
# CNN study re-measured (run_measured_study.sh), so the two can be read side by side.
# CPU-heavy: on the 2-core development CPU a baseline or mixup run took 9–12 minutes, MIT and
# RegMixup (two forward passes a step) 12–18, the IMDB evaluation included: 47–57 minutes a seed
# (measured 2026-12-02). Run it with nothing else on the machine. Seeds go one round at a time over the methods
# (a stopped study has whole seeds, not whole methods); restartable: finished runs are skipped,
# interrupted ones resumed. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_minilm_study.sh [runs/study_minilm]
set -euo pipefail
out=${1:-runs/study_minilm}
methods="baseline mixup mit regmixup"
calibrators="temperature, vector, matrix, dirichlet, ensemble_temperature, histogram, isotonic, platt, beta"
seeds=""
for seed in 1 2 3; do
  seeds=${seeds:+$seeds,}$seed  # each round sweeps every seed so far: the sweep folder lists them all
  for method in $methods; do
    textmix sweep "recipes/mr/minilm_$method.yaml" --seeds "$seeds" --out "$out/mr/$method" \
      --set "eval.calibrators=[$calibrators]" \
      --set "eval.conformal={alpha: [0.1, 0.05], methods: [lac], split: 0.3}" --set "eval.shift=[imdb]"
  done
done
textmix report "$out"/mr/* --out docs/results/minilm_study
