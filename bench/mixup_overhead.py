"""Mixup's cost per training step (forward, backward, optimizer) against the same step without it.

    TEXTMIX_DATA_DIR=../shared/data python bench/mixup_overhead.py [--steps 30] [--repeats 5]

The same model, optimizer and real MR batches (from the engine's own loader) run a baseline step
and a mixup step alternately on each batch, so both variants see the same batches under the same
machine state; a repetition is ``--steps`` such pairs, its ratio is median(mixup step) / median
(baseline step), and the ratio is reported as median and spread over repetitions. Kim CNN (embedding mixup)
and MiniLM (mixup on the word embeddings with the union attention mask). Writes
bench/results/mixup_overhead.json.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from bench.common import spread, write_result
from textmix.core.methods import StepBatch, build_method
from textmix.engine import load_recipe
from textmix.engine.optimizers import make_optimizer
from textmix.text.task import TextTask

RECIPES = {"kim_cnn": "recipes/mr/kim_cnn_mixup.yaml", "minilm": "recipes/mr/minilm_mixup.yaml"}


def step_fn(method, model, optimizer, mixer, num_classes):
    def step(batch):
        plan = mixer.plan(len(batch["labels"])) if mixer is not None else None

        def forward(plan):
            return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], plan=plan)

        loss = method.step_loss(StepBatch(forward, batch["labels"], num_classes, plan))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if hasattr(model, "after_optimizer_step"):
            model.after_optimizer_step()

    return step


def measure(name: str, steps: int, repeats: int) -> dict:
    recipe = load_recipe(RECIPES[name])
    data = TextTask().setup(recipe)
    model = data.model.train()
    optimizer = make_optimizer(recipe.optim, model, torch.device("cpu"))
    n = data.facts["num_classes"]
    baseline, mixup = build_method("baseline", recipe.loss), build_method("mixup", recipe.loss)
    mixer = mixup.make_mixer(recipe.mixup.alpha, recipe.mixup.per_sample, 1, seed=0)
    variants = {
        "baseline": step_fn(baseline, model, optimizer, None, n),
        "mixup": step_fn(mixup, model, optimizer, mixer, n),
    }
    batches = list(itertools.islice(iter(data.loaders["train"]), steps))
    for batch in batches[:3]:  # warm-up
        for step in variants.values():
            step(batch)
    seconds = {v: [] for v in variants}  # per repetition: median step time
    for _ in range(repeats):
        steps_of = {v: [] for v in variants}
        for batch in batches:
            for variant, step in variants.items():
                start = time.perf_counter()
                step(batch)
                steps_of[variant].append(time.perf_counter() - start)
        for variant, times in steps_of.items():
            seconds[variant].append(statistics.median(times))
    ratios = [m / b for m, b in zip(seconds["mixup"], seconds["baseline"])]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches) / len(batches)
    return {
        "model": name,
        "recipe": RECIPES[name],
        "batch_size": recipe.train.batch_size,
        "mean_tokens_per_batch": tokens,
        "steps_per_repeat": len(batches),
        "repeats": repeats,
        "step_seconds": {v: spread(s) for v, s in seconds.items()},
        "ratio": spread(ratios),
    }


def lambda_draw_seconds(draws: int = 2000) -> dict:
    """Seconds per λ draw: textmix's Mixup.sample_lam vs torch.distributions.Beta under fork_rng +
    torch.manual_seed (what sample_lam did first; the same values)."""
    import torch

    from textmix.core.mixer import Mixup

    mixer = Mixup(0.4, generator=torch.Generator().manual_seed(0))

    def reference():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (), generator=mixer.generator)))
            conc = torch.full((), 0.4)
            return torch.distributions.Beta(conc, conc).sample()

    out = {}
    for name, draw in (("textmix sample_lam", lambda: mixer.sample_lam(50)), ("distributions.Beta", reference)):
        start = time.perf_counter()
        for _ in range(draws):
            draw()
        out[name] = (time.perf_counter() - start) / draws
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="kim_cnn,minilm")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    draws = lambda_draw_seconds()
    for name, seconds in draws.items():
        print(f"λ draw, {name}: {1e6 * seconds:.1f} µs")
    rows = [measure(name, args.steps, args.repeats) for name in args.models.split(",") if name]
    print(f"{'model':10s} {'baseline ms':>12s} {'mixup ms':>10s} {'ratio median':>13s} {'ratio min..max':>16s}")
    for r in rows:
        b, m, q = r["step_seconds"]["baseline"], r["step_seconds"]["mixup"], r["ratio"]
        print(
            f"{r['model']:10s} {1000 * b['median']:12.1f} {1000 * m['median']:10.1f} {q['median']:13.3f}"
            f" {q['min']:7.3f}..{q['max']:.3f}"
        )
    write_result("mixup_overhead", {"target_ratio": 1.03, "lambda_draw_seconds": draws, "rows": rows})


if __name__ == "__main__":
    main()
