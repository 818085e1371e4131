#!/usr/bin/env bash
# Every benchmark of docs/benchmarks.md, in its order (§1–17), on an otherwise idle machine; the GPU
# throughput rows (§9) and the risk-control runs (§16, which need trained MR and TREC runs) are
# named in the document, not run here. Usage:
#   TEXTMIX_DATA_DIR=../shared/data bash bench/run_all.sh
set -euo pipefail
python -m bench.mixup_overhead --steps 30 --repeats 7
python -m bench.trainer_throughput --steps 60 --repeats 2
python -m bench.bucketing --datasets mr,imdb
python -m bench.calibration_speed --n 1000000 --k 10 --repeats 5
python -m bench.glove_cache --repeats 3
python -m bench.distributed --epochs 2 --repeats 2
python -m bench.trainer_mixup --steps 20 --repeats 3
python -m bench.bootstrap_speed --repeats 5
python -m bench.throughput --device cpu --repeats 3
python -m bench.step_ops
python -m bench.method_cost
python -m bench.calibrator_speed
python -m bench.conformal_speed
python -m bench.cli_scale
python -m bench.startup
python -m bench.noise_floor_speed
python -m bench.serve
