"""Experiment trackers through accelerate (``train.log_with``): TensorBoard by default, or any
tracker accelerate supports (MLflow, Weights & Biases, Comet, Aim, ClearML, DVCLive, SwanLab,
Trackio). Each gets the recipe as parameters, the training loss every ``train.log_every`` steps, the
validation metrics every epoch and the final assessment's test metrics, raw and after the chosen
calibrator. accelerate silently skips a tracker whose package is missing; textmix refuses it
before training, in one line.

    train:
      log_with: [tensorboard, mlflow]   # MLflow: MLFLOW_TRACKING_URI, else mlflow.db in the run directory
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from textmix.core.errors import RecipeError
from textmix.engine.run_directory import RunDir

logger = logging.getLogger(__name__)

# tracker name (accelerate's LoggerType value) → the module it needs (pip name where it differs)
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow"),
    "comet_ml": ("comet_ml", "comet-ml"),
    "aim": ("aim", "aim"),
    "clearml": ("clearml", "clearml"),
    "dvclive": ("dvclive", "dvclive"),
    "swanlab": ("swanlab", "swanlab"),
    "trackio": ("trackio", "trackio"),
}


def check_trackers(names: list[str]) -> None:
    """Each tracker is one accelerate supports and is installed; else one line with the fix."""
    for name in names:
        if name not in TRACKERS:
            raise RecipeError(f"train.log_with: {name!r} is not a tracker accelerate supports; choose from "
                              f"{', '.join(TRACKERS)} (or [] for none)")  # fmt: skip
        module, package = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise RecipeError(f"train.log_with: {name} is not installed (pip install {package}), or remove it "
                              "from train.log_with")  # fmt: skip


def tracker_options(names: list[str], run_path: Path) -> dict:
    """init_kwargs for accelerate's trackers: each run named after its folder (``sweep/seed=1``);
    MLflow logs to MLFLOW_TRACKING_URI, else to a SQLite store in the run directory (MLflow's own
    default is one in the current directory; its file store needs MLFLOW_ALLOW_FILE_STORE=true)."""
    title = f"{run_path.parent.name}/{run_path.name}"
    # W&B writes its files (offline runs, its cache) under the run, not the current directory
    local = RunDir(run_path).trackers
    if "wandb" in names:
        local.mkdir(parents=True, exist_ok=True)
    options = {"mlflow": {"run_name": title}, "wandb": {"name": title, "dir": str(local)}}
    if "mlflow" in names:
        import mlflow

        store = (run_path / RunDir.MLFLOW).resolve()
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store}"
        mlflow.set_tracking_uri(uri)  # for every run: an earlier run of this process set it too
        if uri.endswith(str(store)):
            logger.info(f"mlflow: logging to {store} (set MLFLOW_TRACKING_URI for a server or a shared store)")
    return {name: options[name] for name in names if name in options}


def final_scalars(metrics: dict) -> dict[str, float]:
    """The final assessment's test metrics: ``test/*`` raw, ``calibrated/*`` after the chosen calibrator."""
    out = {f"test/{k}": float(v) for k, v in metrics["test"].items() if _scalar(k, v)}
    chosen = (metrics.get("calibrator_choice") or {}).get("chosen")
    if chosen and chosen in metrics.get("calibrated", {}):
        test = metrics["calibrated"][chosen]["test"]
        out |= {f"calibrated/{k}": float(v) for k, v in test.items() if _scalar(k, v)}
    return out


def _scalar(key: str, value) -> bool:
    return key != "n" and isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
