#!/usr/bin/env bash
# Kim CNN on MR: baseline vs mixup (alpha 0.1, 0.4, 1.0), 3 seeds, with out-of-distribution
# evaluation (TREC questions, random-token sequences), MC dropout (10 passes) and temperature
# scaling, per-epoch validation predictions and the mixed-label entropy; then the report with
# figures 4-6 (label entropy, OOD winning scores, joint density). Restartable. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_mr_ood_study.sh [runs/mr_ood]
set -euo pipefail
out=${1:-runs/mr_ood}
eval_keys=(--set "eval.ood=[trec, random_tokens]" --set eval.mc_dropout_samples=10)
textmix sweep recipes/mr/kim_cnn_baseline.yaml --seeds 1,2,3 --out $out/baseline "${eval_keys[@]}"
textmix sweep recipes/mr/kim_cnn_mixup.yaml --grid mixup.alpha=0.1,0.4,1.0 --seeds 1,2,3 --out $out/mixup "${eval_keys[@]}"
textmix report $out/baseline/* $out/mixup/* --out docs/results/mr_ood
