"""Operators one training step dispatches, engine and reference loop, counted on the CPU.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.step_ops [--workloads kim_cnn_mr,...]

On a GPU each operator that is not a view (a reshape, a slice, a transpose) launches about one
kernel (a few launch more), and the small models of the study are bound by those launches
(docs/benchmarks.md §9): this count tracks the work that bounds their GPU step where no GPU is at
hand, exactly and without timing noise. Both sides of ``bench.throughput`` run a short and a
longer epoch under a counting ``TorchDispatchMode``; the difference over the difference in steps
is one step, without the per-epoch work. The optimizer is the one a GPU run builds (fused AdamW /
SGD, foreach Adadelta; CPU runs use PyTorch's per-parameter default). Host-side work stays in the
count although it launches nothing on a GPU: ``F.one_hot``'s label checks (3 operators a step
that CUDA skips) and the engine's λ draw on the host generator (5). The reference loop's batches
are cut before timing; the engine's cost it 3 gathers a step. Writes bench/results/step_ops.json.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bench.common import write_result
from bench.throughput import WORKLOADS, Reference, build_recipe, engine_epoch, engine_session
from textmix.engine import optimizers
from textmix.engine.training import make_accelerator

# operators that launch no kernel: views (they only re-describe memory) and profiler markers
NO_KERNEL = {
    "_reshape_alias", "_unsafe_view", "alias", "as_strided", "detach", "expand", "lift_fresh", "permute",
    "reshape", "select", "slice", "squeeze", "t", "transpose", "unsqueeze", "view",
    "_record_function_enter_new", "_record_function_exit",
}  # fmt: skip


class CountOps(TorchDispatchMode):
    """Counts every operator dispatched inside the ``with`` block, by name."""

    def __init__(self):
        super().__init__()
        self.counts = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def launching(counts: collections.Counter) -> collections.Counter:
    """The counts of operators that launch a kernel on a GPU."""
    return collections.Counter({name: n for name, n in counts.items() if name not in NO_KERNEL})


def count_epoch(name: str, steps: int) -> dict[str, tuple[collections.Counter, int]]:
    """(operator counts, steps taken) of one engine epoch and one reference epoch of about
    ``steps`` steps (after an uncounted warm-up epoch each; a stratified subset and dropping the
    last partial batch can make it fewer)."""
    recipe = build_recipe(name, steps, False)
    accelerator = make_accelerator()
    vision = recipe.task == "vision"
    with tempfile.TemporaryDirectory() as folder:
        s = engine_session(recipe, accelerator, folder)
        s.optimizer.optimizer = optimizers.make_optimizer(recipe.optim, s.unwrapped, torch.device("cuda"))
        ref = Reference(recipe, accelerator.device, False, vision)
        ref.optimizer = optimizers.make_optimizer(recipe.optim, ref.model, torch.device("cuda"))
        engine_epoch(s, 0), ref.epoch()
        taken = {"engine": len(s.data.loaders["train"]), "reference": ref_steps(ref)}
        out = {}
        for side, run in (("engine", lambda: engine_epoch(s, 1)), ("reference", ref.epoch)):
            with CountOps() as mode:
                run()
            out[side] = (mode.counts, taken[side])
    return out


def ref_steps(ref: Reference) -> int:
    return len(ref.images) // ref.batch if ref.vision else len(ref.batches)


def measure(name: str) -> dict:
    short, long = count_epoch(name, 2), count_epoch(name, 4)
    row = {"workload": name, "recipe": WORKLOADS[name][0]}
    for side in ("engine", "reference"):
        (many, n_many), (few, n_few) = long[side], short[side]
        steps = n_many - n_few
        if steps < 1:
            raise RuntimeError(f"{name}: the longer epoch took {n_many} steps, the shorter {n_few}")
        per_step = launching(many) - launching(few)  # Counter subtraction keeps positive counts
        row[side] = {
            "operators_per_step": sum(per_step.values()) / steps,
            "all_operators_per_step": (sum(many.values()) - sum(few.values())) / steps,
            "top": {k: v / steps for k, v in per_step.most_common(16)},
        }
    print(
        f"{name:18s} engine {row['engine']['operators_per_step']:7.1f}  reference "
        f"{row['reference']['operators_per_step']:7.1f} operators a step (views aside)",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--name", default="step_ops", help="result file name in bench/results/")
    args = parser.parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # counted on the CPU, whatever the machine
    os.environ["ACCELERATE_MIXED_PRECISION"] = "no"
    rows = [measure(name) for name in args.workloads.split(",")]
    write_result(args.name, {"device": "cpu", "rows": rows})


if __name__ == "__main__":
    main()
