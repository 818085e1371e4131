"""What each training method costs: engine training throughput of every built-in method against
``method: mixup`` on the same recipe otherwise (data, model, α, mix point), interleaved in one
process so that the ratios share the machine's state.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.method_cost [--workloads kim_cnn_mr,minilm_mr]
        [--methods regmixup,mit,...] [--steps N] [--repeats 5]

Workloads and step counts are those of ``bench.throughput``. A method that makes more forward
passes a step (the README's method table) should cost about that many mixup steps: RegMixup,
RankMixup and MIT two, AUM-guided mixup three after its measuring epochs (measured here in its
mixing phase), kernel mixup one plus a forward pass without gradients. Writes
bench/results/method_cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from bench.common import spread, write_result
from bench.throughput import WORKLOADS, build_recipe, engine_epoch, engine_session
from textmix.core.methods import BUILT_IN
from textmix.engine.training import make_accelerator


def measure(name: str, methods: list[str], steps: int, repeats: int) -> dict:
    recipes = {}
    for method in ["mixup", *(m for m in methods if m != "mixup")]:
        recipe = build_recipe(name, steps, False)
        recipe.method = method
        recipe.loss.aum_epochs = 1  # the warm-up epoch measures AUM; the timed ones mix
        recipe.train.epochs = max(recipe.train.epochs, repeats + 2)
        recipes[method] = recipe.validate()
    accelerator = make_accelerator()
    rates = {method: [] for method in recipes}
    with tempfile.TemporaryDirectory() as folder:
        sessions = {m: engine_session(r, accelerator, f"{folder}/{m}") for m, r in recipes.items()}
        for s in sessions.values():
            engine_epoch(s, 0)  # warm-up
        order = list(sessions)
        for r in range(repeats):
            # each repeat starts one method later: no method always runs first (a cold cache)
            for method in order[r % len(order) :] + order[: r % len(order)]:
                rates[method].append(engine_epoch(sessions[method], r + 1))
    mixup = statistics.median(rates["mixup"])
    ratios = {m: statistics.median(v) / mixup for m, v in rates.items()}
    for m, v in rates.items():
        print(f"{name:12s} {m:20s} {statistics.median(v):9.1f}/s  ratio to mixup {ratios[m]:.3f}", flush=True)
    return {"workload": name, "steps": steps, "rates": {m: spread(v) for m, v in rates.items()}, "ratio": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="kim_cnn_mr,minilm_mr")
    parser.add_argument("--methods", default=",".join(BUILT_IN))
    parser.add_argument("--steps", type=int, default=0, help="steps per epoch (0: the workload's CPU default)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for name in args.workloads.split(","):
        steps = args.steps or WORKLOADS[name][2 if device == "cuda" else 1]
        rows.append(measure(name, args.methods.split(","), steps, args.repeats))
    write_result("method_cost", {"device": device, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
