"""An in-memory task for engine tests that need no data folder: Gaussian blobs, a small MLP that
mixes at its input, OOD noise, and faults injected on request.

``import toy_task`` registers it as ``task: toy``; subprocesses find it through the entry point
that :func:`plugin_env` declares (a ``.dist-info`` folder on ``PYTHONPATH``), the way a
third-party package adds a task. Faults come from environment variables read when the task
builds its model, so they reach CLI subprocesses too and survive renames of engine internals:

- ``TOY_SIGTERM_AT_STEP=N``: send SIGTERM to this process during training step N (counted from 1
  in this process);
- ``TOY_NAN_AT_STEP=N``: make the logits of training step N NaN;
- ``TOY_SIGTERM_AT_EVALUATION=N``: send SIGTERM at the N-th evaluation batch after the last
  training step (the last epoch's validation takes ceil(n_train / 2 / eval_batch_size) batches, so
  one more is the final evaluation's first).
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_model, save_model
from torch.utils.data import DataLoader

from textmix.core.errors import RecipeError
from textmix.core.sampling import EpochBatchSampler
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import EvalSet, TaskData, register_task

HERE = Path(__file__).resolve().parent


@dataclass
class ToyDataConfig:
    """Args:
    name: blobs (Gaussian class clusters).
    n_train: training examples (validation and test have half as many each).
    num_classes: K.
    dim: input features.
    spread: cluster standard deviation (larger: harder).
    split_seed: seed of the data.
    """

    name: str = "blobs"
    n_train: int = 400
    num_classes: int = 3
    dim: int = 8
    spread: float = 1.5
    split_seed: int = 0

    def checks(self):
        return [(self.n_train >= 10, "n_train", ">= 10"), (self.num_classes >= 2, "num_classes", ">= 2")]


@dataclass
class ToyModelConfig:
    """Args:
    name: mlp.
    hidden: hidden units.
    dropout: dropout before the output layer.
    """

    name: str = "mlp"
    hidden: int = 16
    dropout: float = 0.2


class ToyMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        self.sigterm_at = int(os.environ.get("TOY_SIGTERM_AT_STEP", 0))
        self.nan_at = int(os.environ.get("TOY_NAN_AT_STEP", 0))
        self.sigterm_at_evaluation = int(os.environ.get("TOY_SIGTERM_AT_EVALUATION", 0))
        self.steps = self.evaluations_after_training = 0
        self.total_steps = None  # set by the task: the last training step

    def forward(self, x: torch.Tensor, plan=None) -> torch.Tensor:  # (B, D) → (B, K)
        if self.training:
            self.steps += 1
            if self.steps == self.sigterm_at:
                os.kill(os.getpid(), signal.SIGTERM)
        elif self.steps == self.total_steps:
            self.evaluations_after_training += 1
            if self.evaluations_after_training == self.sigterm_at_evaluation:
                os.kill(os.getpid(), signal.SIGTERM)
        logits = self.net(plan.mix(x) if plan is not None else x)
        return logits * float("nan") if self.training and self.steps == self.nan_at else logits


def blobs(config: ToyDataConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """split → (x (N, D) float32, labels (N,)), class centres on a sphere of radius 3."""
    rng = np.random.default_rng(config.split_seed)
    centres = rng.normal(size=(config.num_classes, config.dim))
    centres = 3 * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    out = {}
    for split, n in (("train", config.n_train), ("validation", config.n_train // 2), ("test", config.n_train // 2)):
        labels = rng.integers(0, config.num_classes, size=n)
        x = centres[labels] + config.spread * rng.normal(size=(n, config.dim))
        out[split] = (torch.tensor(x, dtype=torch.float32), torch.tensor(labels))
    return out


class TensorSet:
    def __init__(self, x: torch.Tensor, labels: torch.Tensor):
        self.x, self.labels = x, labels

    def __len__(self):
        return len(self.x)

    def __getitems__(self, indices):
        index = torch.tensor(indices)
        return {"x": self.x[index], "labels": self.labels[index], "index": index}


def loader(data: TensorSet, batch_size: int, train: bool, seed: int) -> DataLoader:
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=train, seed=seed, drop_last=train)
    return DataLoader(data, batch_sampler=sampler, collate_fn=lambda batch: batch)


def inputs(batch: dict) -> dict:
    return {"x": batch["x"]}


class ToyTask:
    sections = {"data": ToyDataConfig, "model": ToyModelConfig}
    legacy_keys: dict = {}
    default_mix_point = "input"
    repetition_keys = ("data.split_seed",)

    def validate(self, recipe) -> None:
        if recipe.mixup.mix_point != "input":
            raise RecipeError(f"mixup.mix_point={recipe.mixup.mix_point!r} is not a mix point of the toy mlp: input")
        unknown = [name for name in recipe.eval.ood if name != "noise"]
        if unknown or recipe.eval.shift or recipe.eval.perturbation:
            raise RecipeError(f"the toy task evaluates eval.ood=[noise] only, got {unknown or 'shift/perturbation'}")

    def setup(self, recipe) -> TaskData:
        splits = blobs(recipe.data)
        model = self._model(recipe)
        train = TensorSet(*splits["train"])
        model.total_steps = recipe.train.epochs * (len(train) // recipe.train.batch_size)
        loaders = {"train": loader(train, recipe.train.batch_size, True, recipe.train.seed)}
        counts = np.bincount(splits["train"][1].numpy(), minlength=recipe.data.num_classes).tolist()
        facts = {"num_classes": recipe.data.num_classes, "splits": {k: len(v[0]) for k, v in splits.items()},
                 "train_label_counts": counts}  # fmt: skip
        return self._data(recipe, model, splits, loaders, facts)

    def load_for_evaluation(self, recipe, model_dir: Path) -> TaskData:
        model = self._model(recipe)
        load_model(model, str(model_dir / RunDir.WEIGHTS))
        return self._data(recipe, model, blobs(recipe.data), {}, {})

    @staticmethod
    def _model(recipe) -> ToyMLP:
        m = recipe.model
        return ToyMLP(recipe.data.dim, m.hidden, recipe.data.num_classes, m.dropout)

    @staticmethod
    def _data(recipe, model, splits, loaders, facts) -> TaskData:
        batch, seed = recipe.train.eval_batch_size, recipe.train.seed
        for name in ("validation", "test"):
            loaders[name] = loader(TensorSet(*splits[name]), batch, False, 0)

        def ood_sets(unwrapped) -> dict[str, EvalSet]:
            x = torch.randn(len(splits["test"][0]), recipe.data.dim, generator=torch.Generator().manual_seed(seed)) * 4
            noise = TensorSet(x, torch.zeros(len(x), dtype=torch.long))
            return {"noise": EvalSet(loader(noise, batch, False, 0), len(x), inputs)}

        def save(model, folder: Path) -> None:
            save_model(model, str(folder / RunDir.WEIGHTS))
            (folder / "toy.json").write_text(json.dumps({"dim": recipe.data.dim}))

        return TaskData(
            model=model,
            facts=facts,
            label_names=[f"class_{k}" for k in range(recipe.data.num_classes)],
            loaders=loaders,
            labels={name: splits[name][1].numpy() for name in ("validation", "test")},
            inputs_fn=inputs,
            save_model=save,
            ood_sets=ood_sets if recipe.eval.ood else None,
        )


register_task("toy", ToyTask)


def plugin_env(tmp_path: Path, **faults) -> dict[str, str]:
    """Environment for a subprocess that finds ``task: toy`` through a ``textmix.tasks`` entry point
    (as an installed plugin package would declare it), with the given ``TOY_*`` faults."""
    dist = tmp_path / "toy_task_plugin-0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-task-plugin\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[textmix.tasks]\ntoy = toy_task:ToyTask\n")
    path = os.pathsep.join([str(HERE), str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)}
    env.update({key: str(value) for key, value in faults.items()})
    return env


TOY = {
    "task": "toy",
    "method": "mixup",
    "optim": {"name": "adamw", "lr": 0.01},
    "train": {"epochs": 2, "batch_size": 25, "log_every": 4, "eval_batch_size": 64},
    "eval": {"bootstrap_resamples": 100},
}
