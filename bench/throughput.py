"""Training throughput of the engine against a plain PyTorch loop, same model, optimizer, batch and
precision, in one process, interleaved.

    TEXTMIX_DATA_DIR=../shared/data python -m bench.throughput [--device cpu|cuda] [--precision fp32|bf16]
        [--workloads kim_cnn_mr,minilm_mr,resnet18_cifar10,preact_cifar10] [--steps N] [--repeats 3] [--compile]

Engine: the recipe's task builds data and model, the engine prepares them (``training._start``) and
``train_one_epoch`` runs one epoch of ``--steps`` steps (``data.max_train_examples`` = steps ×
batch); examples/s is the epoch's own timing (the loop ends by reading the losses back, so GPU work
is included). Reference: the same model class built by the same task with the same optimizer
(``optimizers.make_optimizer``), batches pre-staged on the device before timing (text: the task's
own padded batches; images: uint8 tensors, crop / flip / mixing on the device), and a loop of
mixup (λ from NumPy), forward, ``F.cross_entropy`` on soft targets, backward, step. Each side runs
one untimed warm-up epoch, then ``--repeats`` timed epochs alternating engine / reference; the
ratio is of medians. Goals: engine / reference >= 0.95 on a CPU; on a GPU, the engine ahead.
Writes bench/results/throughput_<device>_<precision>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.common import spread, write_result
from textmix.core.mixer import MixupPlan
from textmix.engine import optimizers
from textmix.engine.loop import StopFlag, train_one_epoch
from textmix.engine.recipe import load_recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import get_task
from textmix.engine.training import _start, make_accelerator
from vision.augment import crop_flip

# name → (recipe, default steps on cpu, default steps on cuda)
WORKLOADS = {
    "kim_cnn_mr": ("recipes/mr/kim_cnn_mixup.yaml", 40, 170),
    "minilm_mr": ("recipes/mr/minilm_mixup.yaml", 6, 200),
    "resnet18_cifar10": ("recipes/vision/cifar10_resnet18_mixup.yaml", 3, 300),
    "preact_cifar10": ("recipes/vision/cifar10_small_mixup.yaml", 10, 300),
}


def build_recipe(name: str, steps: int, compile_model: bool):
    path, *_ = WORKLOADS[name]
    recipe = load_recipe(path, [f"train.compile={str(compile_model).lower()}"])
    recipe.data.max_train_examples = steps * recipe.train.batch_size
    if name == "kim_cnn_mr" and os.environ.get("TEXTMIX_GLOVE_SUBSET"):  # the offline bundle's GloVe file
        recipe.data.vectors = os.environ["TEXTMIX_GLOVE_SUBSET"]
    return recipe


def engine_session(recipe, accelerator, folder: str):
    torch.manual_seed(recipe.train.seed)
    data = get_task(recipe.task).setup(recipe)
    return _start(recipe, RunDir(folder), accelerator, data)


def engine_epoch(s, epoch: int) -> float:
    train_one_epoch(s, epoch, StopFlag())
    rate = s.progress.timing[-1]["examples_per_second"]
    s.progress.start_next_epoch(epoch)
    return rate


class Reference:
    """The plain loop: staged batches, one model, one optimizer, autocast when bf16."""

    def __init__(self, recipe, device: torch.device, bf16: bool, vision: bool):
        torch.manual_seed(recipe.train.seed)
        data = get_task(recipe.task).setup(recipe)
        self.model = data.model.to(device)
        if vision and device.type == "cuda" and bf16:
            self.model.to(memory_format=torch.channels_last)
        if recipe.train.compile:
            self.model = torch.compile(self.model)
        self.optimizer = optimizers.make_optimizer(recipe.optim, self.model, device)
        self.device, self.bf16, self.vision = device, bf16, vision
        self.alpha, self.batch = recipe.mixup.alpha, recipe.train.batch_size
        self.num_classes = data.facts["num_classes"]
        self.rng = np.random.default_rng(0)
        loader = data.loaders["train"]
        if vision:  # the uint8 images and labels, whole, on the device
            self.images = loader.dataset.images.to(device)
            self.labels = loader.dataset.labels.to(device)
        else:  # the task's padded batches, each on the device
            self.batches = [{k: v.to(device) for k, v in b.items()} for b in loader]

    def _vision_batches(self):
        order = torch.randperm(len(self.images), device=self.device)
        for start in range(0, len(order) - self.batch + 1, self.batch):
            rows = order[start : start + self.batch]
            b = len(rows)
            top, left = (torch.randint(0, 9, (b,), device=self.device) for _ in range(2))
            flip = torch.rand(b, device=self.device) < 0.5
            pixels = crop_flip(self.images[rows], top, left, flip).float() / 255  # (B, C, H, W)
            yield {"pixels": pixels}, self.labels[rows]

    def _text_batches(self):
        for b in self.batches:
            yield {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}, b["labels"]

    def epoch(self) -> float:
        self.model.train()
        seen = 0
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for inputs, labels in self._vision_batches() if self.vision else self._text_batches():
            lam = float(self.rng.beta(self.alpha, self.alpha))
            perm = torch.randperm(len(labels), device=self.device)
            targets = F.one_hot(labels, self.num_classes).float()
            targets = lam * targets + (1 - lam) * targets[perm]
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                if self.vision:
                    x = inputs["pixels"]
                    logits = self.model(pixels=lam * x + (1 - lam) * x[perm])
                else:
                    plan = MixupPlan(torch.tensor(lam, device=self.device), perm)
                    logits = self.model(**inputs, plan=plan)
            loss = F.cross_entropy(logits.float(), targets)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if hasattr(self.model, "after_optimizer_step"):
                self.model.after_optimizer_step()
            seen += len(labels)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return seen / (time.perf_counter() - start)


def measure(name: str, args) -> dict:
    recipe_path, cpu_steps, cuda_steps = WORKLOADS[name]
    steps = args.steps or (cuda_steps if args.device == "cuda" else cpu_steps)
    recipe = build_recipe(name, steps, args.compile)
    accelerator = make_accelerator()
    vision = recipe.task == "vision"
    rates = {"engine": [], "reference": []}
    with tempfile.TemporaryDirectory() as folder:
        s = engine_session(recipe, accelerator, folder)
        ref = Reference(recipe, accelerator.device, args.precision == "bf16", vision)
        engine_epoch(s, 0), ref.epoch()  # warm-up: allocator, cuDNN autotuning, compilation
        for r in range(args.repeats):
            rates["engine"].append(engine_epoch(s, r + 1))
            rates["reference"].append(ref.epoch())
    ratio = statistics.median(rates["engine"]) / statistics.median(rates["reference"])
    row = {
        "workload": name,
        "recipe": recipe_path,
        "steps": steps,
        "batch_size": recipe.train.batch_size,
        "engine": spread(rates["engine"]),
        "reference": spread(rates["reference"]),
        "ratio": ratio,
    }
    print(
        f"{name:18s} engine {row['engine']['median']:9.1f}/s  reference {row['reference']['median']:9.1f}/s"
        f"  ratio {ratio:.3f}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--steps", type=int, default=0, help="steps per epoch (0: the workload's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="train.compile for both sides")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before CUDA is touched: the accelerator's device
    os.environ["ACCELERATE_MIXED_PRECISION"] = "bf16" if args.precision == "bf16" else "no"
    rows = [measure(name, args) for name in args.workloads.split(",")]
    suffix = "_compile" if args.compile else ""
    write_result(
        f"throughput_{args.device}_{args.precision}{suffix}",
        {
            "device": args.device,
            "precision": args.precision,
            "compile": args.compile,
            "repeats": args.repeats,
            "target_ratio_cpu": 0.95,
            "rows": rows,
        },  # fmt: skip
    )


if __name__ == "__main__":
    main()
