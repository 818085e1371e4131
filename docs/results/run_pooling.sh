#!/usr/bin/env bash
# MiniLM on MR with embedding mixup (recipes/mr/minilm_mixup.yaml, seed 1): mean pooling
# (sentence-transformers style, textmix-only; the recipes' default before round 4) against pooling: pooler (the encoder's own pooler, the
# stock BertForSequenceClassification head, exported on push as a model transformers loads alone).
# Restartable (sweep skips finished runs). Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_pooling.sh [runs/pooling]
set -euo pipefail
out=${1:-runs/pooling}
results=docs/results/pooling
mkdir -p $results
textmix sweep recipes/mr/minilm_mixup.yaml --grid model.pooling=mean,pooler --seeds 1 --out $out
# two settings of one method: reported one by one (report refuses to pool runs whose recipes differ)
for pooling in mean pooler; do
  textmix report $out/pooling=${pooling}_seed=1 --out $results/$pooling --figures reliability
done
