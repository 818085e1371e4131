"""Where a training step's time goes: ``torch.profiler`` over engine and reference-loop epochs of one
``bench.throughput`` workload, as two tables (top operators by host time, with kernel counts).

    TEXTMIX_DATA_DIR=../shared/data python -m bench.profile_step kim_cnn_mr [--steps 50] [--precision bf16]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

from bench.throughput import Reference, build_recipe, engine_epoch, engine_session
from textmix.engine.training import make_accelerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    os.environ["ACCELERATE_MIXED_PRECISION"] = "bf16" if args.precision == "bf16" else "no"
    recipe = build_recipe(args.workload, args.steps, False)
    accelerator = make_accelerator()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as folder:
        s = engine_session(recipe, accelerator, folder)
        ref = Reference(recipe, accelerator.device, args.precision == "bf16", recipe.task == "vision")
        engine_epoch(s, 0), ref.epoch()
        for name, run in (("engine", lambda: engine_epoch(s, 1)), ("reference", ref.epoch)):
            with profile(activities=activities) as prof:
                rate = run()
            print(f"\n== {name}: {rate:.0f} examples/s, {args.steps} steps ==")
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows)
            print(table)


if __name__ == "__main__":
    main()
