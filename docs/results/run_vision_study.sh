#!/usr/bin/env bash
# CPU-sized CIFAR-10 study (JPEG copy in $TEXTMIX_DATA_DIR/cifar10): a narrow PreAct ResNet on a
# 20k-image subset, 12 epochs, baseline vs input mixup (alpha 1.0), seed 1; OOD vs MNIST and Gaussian
# noise, MC dropout, the perturbation study; then the report. Restartable. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash docs/results/run_vision_study.sh [runs/vision]
set -euo pipefail
out=${1:-runs/vision}
for method in baseline mixup; do
  textmix sweep recipes/vision/cifar10_small_$method.yaml --seeds 1 --out $out/$method
done
textmix report $out/baseline/* $out/mixup/* --out docs/results/vision/short
