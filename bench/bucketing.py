"""Kim CNN epoch time with length bucketing vs without, on MR and IMDB; peak memory (RSS).

    TEXTMIX_DATA_DIR=../shared/data python -m bench.bucketing [--datasets mr,imdb] [--max-steps N]

Variants, same model, optimizer and batch size 50 (one training epoch each, in its own process so
that its peak RSS is its own):
- ``bucketed``: textmix's loader (EpochBatchSampler with lengths: shuffled pools of 50 batches sorted by length,
  each batch padded to its longest text),
- ``random, per-batch padding``: shuffled batches padded to their longest text,
- ``random, padded to max``: shuffled batches padded to the longest text of the dataset (400 tokens
  for IMDB, Kim's truncation).
Writes bench/results/bucketing.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VARIANTS = ("bucketed", "random, per-batch padding", "random, padded to max")


def one(dataset: str, variant: str, max_steps: int | None) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from textmix.core.sampling import EpochBatchSampler
    from textmix.engine import load_recipe
    from textmix.engine.optimizers import make_optimizer
    from textmix.text.features import collate
    from textmix.text.task import TextTask
    from textmix.text.tokenization import PAD_ID

    recipe = load_recipe(f"recipes/{dataset}/kim_cnn_baseline.yaml")
    data = TextTask().setup(recipe)
    loader = data.loaders["train"]
    encoded = loader.dataset
    lengths = [len(ids) for ids in encoded["input_ids"]]
    longest = max(lengths)
    if variant != "bucketed":
        pad_to = longest if variant == "random, padded to max" else max(recipe.model.filter_sizes)
        loader = DataLoader(
            encoded,
            batch_sampler=EpochBatchSampler(len(lengths), recipe.train.batch_size, shuffle=True, seed=1),
            collate_fn=lambda examples: collate(examples, PAD_ID, pad_to),
        )
    model = data.model.train()
    optimizer = make_optimizer(recipe, model, torch.device("cpu"))
    steps, tokens, padded = 0, 0, 0
    start = time.perf_counter()
    for batch in loader:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        model.after_optimizer_step()
        steps += 1
        tokens += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
        if max_steps and steps >= max_steps:
            break
    seconds = time.perf_counter() - start
    return {
        "dataset": dataset,
        "variant": variant,
        "steps": steps,
        "epoch_seconds": seconds,
        "real_tokens": tokens,
        "padded_tokens": padded,
        "padding_share": 1 - tokens / padded,
        "longest_text": longest,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mr,imdb")
    parser.add_argument("--max-steps", type=int, default=None, help="stop each epoch early (quick checks)")
    parser.add_argument("--one", nargs=2, metavar=("DATASET", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(*args.one, args.max_steps)))
        return
    from bench.common import write_result

    rows = []
    for dataset in args.datasets.split(","):
        for variant in VARIANTS:
            command = [sys.executable, "-m", "bench.bucketing", "--one", dataset, variant]
            if args.max_steps:
                command += ["--max-steps", str(args.max_steps)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.split("RESULT ", 1)[1]))
            r = rows[-1]
            print(
                f"{dataset:5s} {variant:28s} {r['epoch_seconds']:8.1f} s  padding {r['padding_share']:6.1%}"
                f"  peak RSS {r['peak_rss_mib']:7.0f} MiB"
            )
    for row in rows:
        base = next(r for r in rows if r["dataset"] == row["dataset"] and r["variant"] == "bucketed")
        row["time_ratio_to_bucketed"] = row["epoch_seconds"] / base["epoch_seconds"]
    write_result("bucketing", {"max_steps": args.max_steps, "rows": rows})


if __name__ == "__main__":
    main()
