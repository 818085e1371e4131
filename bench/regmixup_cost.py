"""What RegMixup costs: engine training throughput of ``method: regmixup`` (clean batch + mixed
copy, two forward and backward passes per step) against ``method: mixup`` (one), same recipe
otherwise, interleaved in one process.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.regmixup_cost [--workloads kim_cnn_mr,preact_cifar10]
        [--steps N] [--repeats 3]

Workloads and step counts are those of ``bench.throughput``. Expected: a step costs about twice a
mixup step (the ratio regmixup / mixup examples per second near 0.5). Writes
bench/results/regmixup_cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from bench.common import spread, write_result
from bench.throughput import WORKLOADS, build_recipe, engine_epoch, engine_session
from textmix.engine.training import make_accelerator


def measure(name: str, steps: int, repeats: int) -> dict:
    recipes = {method: build_recipe(name, steps, False) for method in ("mixup", "regmixup")}
    recipes["regmixup"].method = "regmixup"  # same α, mix point, data and model
    accelerator = make_accelerator()
    rates = {method: [] for method in recipes}
    with tempfile.TemporaryDirectory() as folder:
        sessions = {m: engine_session(r, accelerator, f"{folder}/{m}") for m, r in recipes.items()}
        for s in sessions.values():
            engine_epoch(s, 0)  # warm-up
        for r in range(repeats):
            for method, s in sessions.items():
                rates[method].append(engine_epoch(s, r + 1))
    ratio = statistics.median(rates["regmixup"]) / statistics.median(rates["mixup"])
    print(f"{name:18s} mixup {statistics.median(rates['mixup']):9.1f}/s  regmixup "
          f"{statistics.median(rates['regmixup']):9.1f}/s  ratio {ratio:.3f}", flush=True)  # fmt: skip
    return {"workload": name, "steps": steps, **{m: spread(v) for m, v in rates.items()}, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="kim_cnn_mr,preact_cifar10")
    parser.add_argument("--steps", type=int, default=0, help="steps per epoch (0: the workload's CPU default)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for name in args.workloads.split(","):
        steps = args.steps or WORKLOADS[name][2 if device == "cuda" else 1]
        rows.append(measure(name, steps, args.repeats))
    write_result("regmixup_cost", {"device": device, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
