#!/usr/bin/env bash
# Post-hoc calibrators on MR (Kim CNN, seed 1): the README main job (mixup, recipes/mr/kim_cnn_mixup.yaml)
# and the MR baseline (recipes/mr/kim_cnn_baseline.yaml, 15 epochs like the main job), each run
# fitting every calibrator on its validation split (eval.calibrators; the one kept with the model is
# chosen by 5-fold cross-fitted validation NLL). Then `textmix calibrate` on each run's predictions
# prints test accuracy, ECE with its 95% bootstrap interval, adaptive ECE, NLL and Brier per
# calibrator, and `textmix report` draws the comparison. Restartable: finished runs are skipped. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_calibrators.sh [runs/calibrators]
set -euo pipefail
out=${1:-runs/calibrators}
results=docs/results/calibrators
all="[temperature, vector, matrix, dirichlet, ensemble_temperature, histogram, isotonic, platt, beta]"
mkdir -p $results
for name in mixup baseline; do
  textmix sweep recipes/mr/kim_cnn_$name.yaml --seeds 1 --out $out/$name --set "eval.calibrators=$all"
  run=$out/$name/seed=1
  python -c "import numpy as np; p = np.load('$run/predictions.npz'); np.savez('$out/$name-val.npz', logits=p['val_logits'], labels=p['val_labels']); np.savez('$out/$name-test.npz', logits=p['test_logits'], labels=p['test_labels'])"
  textmix calibrate $out/$name-test.npz --labels labels --logits logits --val $out/$name-val.npz --calibrators all \
    --out $out/$name-calibrate | grep -v '^wrote ' | tee $results/calibrate_$name.txt
done
textmix report $out/mixup $out/baseline --out $results --figures calibrators,reliability
