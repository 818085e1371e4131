#!/usr/bin/env bash
# Beyond the paper, MiniLM part: all-MiniLM-L6-v2 fine-tuned on MR with the baseline, mixup
# (alpha 0.4 on the word embeddings) and RegMixup (alpha 10, eta 1), 3 seeds each, with the
# selective-prediction metrics and bootstrap intervals. A GPU run (about 40 s a run on one H100;
# hours on a CPU). JOBS=N runs N grid points at once. Restartable: finished runs are skipped. Usage:
#   TEXTMIX_DATA_DIR=../shared/data JOBS=3 bash docs/results/run_beyond_minilm.sh [runs/beyond_minilm]
set -euo pipefail
out=${1:-runs/beyond_minilm}
jobs=${JOBS:-1}
for method in baseline mixup regmixup; do
  textmix sweep recipes/mr/minilm_$method.yaml --seeds 1,2,3 --jobs "$jobs" --out "$out/mr/$method" \
    --set model.pooling=mean  # the published rows: mean pooling, the recipes' default before round 4
done
textmix report "$out"/mr/* --out docs/results/beyond/minilm
