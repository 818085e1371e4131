#!/usr/bin/env bash
# Beyond the paper, Kim CNN part: baseline, mixup (the best alpha of the CNN study: MR 1.0, TREC 0.1),
# RegMixup (alpha 10, eta 1) and label smoothing (eps 0.1) on MR and TREC, 3 seeds each, with the
# selective-prediction metrics and bootstrap intervals; the MR runs are also evaluated on the IMDB
# test reviews as a shifted domain (eval.shift). Restartable: finished runs are skipped. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_beyond_study.sh [runs/beyond]
set -euo pipefail
out=${1:-runs/beyond}
seeds=1,2,3
for ds in mr trec; do
  if [ "$ds" = mr ]; then alpha=1.0; extra=(--set "eval.shift=[imdb]"); else alpha=0.1; extra=(); fi
  textmix sweep recipes/$ds/kim_cnn_baseline.yaml --seeds $seeds --out $out/$ds/baseline "${extra[@]}"
  textmix sweep recipes/$ds/kim_cnn_mixup.yaml --grid mixup.alpha=$alpha --seeds $seeds --out $out/$ds/mixup "${extra[@]}"
  textmix sweep recipes/$ds/kim_cnn_regmixup.yaml --seeds $seeds --out $out/$ds/regmixup "${extra[@]}"
  textmix sweep recipes/$ds/kim_cnn_label_smoothing.yaml --seeds $seeds --out $out/$ds/label_smoothing "${extra[@]}"
done
textmix report $out/mr/* $out/trec/* --out docs/results/beyond
