#!/usr/bin/env bash
# The Kim CNN part of the text study on MR and TREC: every method, 3 seeds, the alpha sweep.
# Re-running it after an interruption skips finished runs. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_cnn_study.sh [runs/study]
set -euo pipefail
out=${1:-runs/study}
seeds=1,2,3
for ds in mr trec; do
  textmix sweep recipes/$ds/kim_cnn_baseline.yaml --seeds $seeds --out $out/$ds/baseline
  textmix sweep recipes/$ds/kim_cnn_mixup.yaml --grid mixup.alpha=0.1,0.2,0.4,0.5,1.0 --seeds $seeds --out $out/$ds/mixup
  textmix sweep recipes/$ds/kim_cnn_mixup_features_only.yaml --seeds $seeds --out $out/$ds/features_only
  textmix sweep recipes/$ds/kim_cnn_label_smoothing.yaml --grid loss.label_smoothing=0.05,0.1 --seeds $seeds --out $out/$ds/label_smoothing
  textmix sweep recipes/$ds/kim_cnn_erl.yaml --seeds $seeds --out $out/$ds/erl
done
textmix report $out/mr/*/* $out/trec/*/* --out docs/results/cnn
