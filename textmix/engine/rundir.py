"""The run directory: the only module that spells its file names.

RUN_DIR/
  recipe.yaml             the resolved recipe
  metrics.json            written last: its presence marks a finished run
  predictions.npz         logits, probabilities and labels of validation and test
  reliability.png         reliability diagram of the test split
  log.jsonl               one line per epoch
  epoch_predictions.npz   validation confidence and correctness after every epoch
  scores.npz              winning scores of the test split and every OOD set
  model/                  the best checkpoint: model.safetensors, textmix.json, task files
  checkpoints/step_N/     state for --resume
  tensorboard/            accelerate's tracker
  evaluation.json, eval_predictions.npz, eval_reliability.png   from ``textmix evaluate``
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml


class RunDir:
    """Paths and status of one run directory.

    Args:
        path: the run directory (need not exist yet).
    """

    RECIPE = "recipe.yaml"
    METRICS = "metrics.json"
    PREDICTIONS = "predictions.npz"
    RELIABILITY = "reliability.png"
    LOG = "log.jsonl"
    EPOCH_PREDICTIONS = "epoch_predictions.npz"
    SCORES = "scores.npz"
    MODEL = "model"
    CHECKPOINTS = "checkpoints"
    TENSORBOARD = "tensorboard"
    EVALUATION = "evaluation.json"
    EVAL_PREFIX = "eval_"
    # inside model/
    MODEL_INFO = "textmix.json"  # labels, method, dataset, fitted temperature
    WEIGHTS = "model.safetensors"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str, prefix: str = "") -> Path:
        return self.path / f"{prefix}{name}"

    @property
    def recipe(self) -> Path:
        return self.path / self.RECIPE

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def log(self) -> Path:
        return self.path / self.LOG

    @property
    def epoch_predictions(self) -> Path:
        return self.path / self.EPOCH_PREDICTIONS

    @property
    def scores(self) -> Path:
        return self.path / self.SCORES

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def model_info(self) -> Path:
        return self.model / self.MODEL_INFO

    @property
    def weights(self) -> Path:
        return self.model / self.WEIGHTS

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def evaluation(self) -> Path:
        return self.path / self.EVALUATION

    @property
    def finished(self) -> bool:
        return self.metrics.is_file()

    @property
    def started(self) -> bool:
        """Holds checkpoints or a finished run."""
        return self.checkpoints.exists() or self.finished

    @property
    def has_recipe(self) -> bool:
        return self.recipe.is_file()

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step}"

    def all_checkpoints(self) -> list[Path]:
        """``checkpoints/step_N`` folders, oldest first."""
        return sorted(self.checkpoints.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))

    def latest_checkpoint(self) -> Path | None:
        folders = self.all_checkpoints()
        return folders[-1] if folders else None

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text())

    def read_recipe(self) -> dict:
        """The saved recipe as a plain mapping (safe YAML)."""
        return yaml.safe_load(self.recipe.read_text()) or {}
