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
  tensorboard/            accelerate's TensorBoard tracker (train.log_with)
  mlflow.db               the MLflow store, with train.log_with: [mlflow] and no MLFLOW_TRACKING_URI
  trackers/               local files of other trackers (train.log_with: [wandb]: trackers/wandb/)
  evaluation.json, eval_predictions.npz, eval_reliability.png   from ``textmix evaluate``
  .textmix-run            marker: textmix made this folder (``--overwrite`` needs it)
  .lock                   OS lock held by the process writing the run

A folder is a run directory when it holds the marker, or (runs of textmix 0.1, before the marker)
a recipe and nothing but names textmix writes. ``--overwrite`` deletes only such folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from textmix.core.errors import RunDirError
from textmix.engine.recipe_yaml import parse_yaml


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
    MLFLOW = "mlflow.db"  # train.log_with: [mlflow] without MLFLOW_TRACKING_URI
    TRACKERS = "trackers"  # local files of trackers that keep their own (W&B: trackers/wandb/)
    EVALUATION = "evaluation.json"
    EVAL_PREFIX = "eval_"
    # inside model/
    # inside checkpoints/step_N/ (textmix.engine.checkpoint); {rank}: the process index
    OPTIMIZER_TENSORS = "optimizer.safetensors"
    OPTIMIZER_LAYOUT = "optimizer.json"
    SCHEDULER = "scheduler.json"
    PROGRESS = "progress.json"
    RNG_TENSORS = "rng_{rank}.safetensors"
    RNG_STATE = "rng_{rank}.json"
    METHOD_STATE = "method.safetensors"
    MARKER = ".textmix-run"
    LOCK = ".lock"
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
        """The path of ``name`` in the run (with a ``prefix``: textmix evaluate's eval_ outputs)."""
        return self.path / f"{prefix}{name}"

    @property
    def recipe(self) -> Path:
        """recipe.yaml: the resolved recipe."""
        return self.path / self.RECIPE

    @property
    def metrics(self) -> Path:
        """metrics.json: written last, so its presence marks a finished run."""
        return self.path / self.METRICS

    @property
    def log(self) -> Path:
        """log.jsonl: one line per epoch."""
        return self.path / self.LOG

    @property
    def epoch_predictions(self) -> Path:
        """epoch_predictions.npz: validation confidence and correctness after every epoch."""
        return self.path / self.EPOCH_PREDICTIONS

    @property
    def scores(self) -> Path:
        """scores.npz: winning scores of the test split and every OOD set."""
        return self.path / self.SCORES

    @property
    def model(self) -> Path:
        """model/: the best checkpoint, loadable by textmix.load_model."""
        return self.path / self.MODEL

    @property
    def model_info(self) -> Path:
        """model/textmix.json: labels, calibrators, conformal and risk-control state."""
        return self.model / self.MODEL_INFO

    @property
    def weights(self) -> Path:
        """model/model.safetensors."""
        return self.model / self.WEIGHTS

    @property
    def checkpoints(self) -> Path:
        """checkpoints/: the state --resume continues from."""
        return self.path / self.CHECKPOINTS

    @property
    def trackers(self) -> Path:
        """trackers/: where trackers that keep local files (W&B) write them."""
        return self.path / self.TRACKERS

    @property
    def tensorboard(self) -> Path:
        """tensorboard/: the TensorBoard tracker's folder."""
        return self.path / self.TENSORBOARD

    @property
    def evaluation(self) -> Path:
        """evaluation.json, written by textmix evaluate."""
        return self.path / self.EVALUATION

    @property
    def finished(self) -> bool:
        """True when metrics.json exists."""
        return self.metrics.is_file()

    @property
    def started(self) -> bool:
        """Holds checkpoints or a finished run."""
        return self.checkpoints.exists() or self.finished

    @property
    def has_recipe(self) -> bool:
        """True when recipe.yaml exists."""
        return self.recipe.is_file()

    def checkpoint(self, step: int) -> Path:
        """checkpoints/step_N for global step ``step``."""
        return self.checkpoints / f"step_{step}"

    def all_checkpoints(self) -> list[Path]:
        """``checkpoints/step_N`` folders, oldest first."""
        return sorted(self.checkpoints.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint of the highest step (None: none saved)."""
        folders = self.all_checkpoints()
        return folders[-1] if folders else None

    def read_metrics(self) -> dict:
        """metrics.json as a dict."""
        return json.loads(self.metrics.read_text())

    def read_recipe(self) -> dict:
        """The saved recipe as a plain mapping (safe YAML)."""
        return parse_yaml(self.recipe.read_text(), str(self.recipe)) or {}

    # --- ownership: what --overwrite may delete ----------------------------------------------

    def owns(self, name: str) -> bool:
        """True for names textmix writes into a run directory (temporary files included)."""
        written = {v for k, v in vars(RunDir).items() if k.isupper() and isinstance(v, str)}
        if name.startswith(self.EVAL_PREFIX):
            name = name[len(self.EVAL_PREFIX) :]
        return name in written or (name.startswith(".") and ".tmp" in name)

    def foreign_entries(self) -> list[str]:
        """Entries of the folder textmix did not write."""
        return sorted(e.name for e in self.path.iterdir() if not self.owns(e.name)) if self.path.is_dir() else []

    @property
    def is_run_directory(self) -> bool:
        """True for a folder textmix made (its marker), or a textmix 0.1 run (a recipe and only textmix's files)."""
        if (self.path / self.MARKER).is_file():
            return True
        return self.has_recipe and not self.foreign_entries()  # textmix 0.1 wrote no marker

    def check_can_overwrite(self) -> None:
        """Refuse to clear a folder that is not a textmix run directory, holds other files, or is the
        current directory, the home folder or one of their parents."""
        where = self.path.resolve()
        for name, protected in (("the current directory", Path.cwd()), ("your home folder", Path.home())):
            if protected == where or where in protected.parents:
                raise RunDirError(f"--overwrite refuses {self.path}: it is {name} or one of its parents")
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a run directory; choose another --output-dir")
        foreign = self.foreign_entries()
        if foreign:
            raise RunDirError(
                f"--overwrite refuses {self.path}: it holds files textmix did not write ({', '.join(foreign[:5])}"
                f"{', ...' if len(foreign) > 5 else ''}); move them or choose another --output-dir"
            )
        entries = [e for e in self.path.iterdir() if e.name != self.LOCK]
        if entries and not self.is_run_directory:
            raise RunDirError(f"--overwrite refuses {self.path}: it is not a textmix run directory (no {self.MARKER})")

    def clear(self) -> None:
        """Delete everything textmix wrote here except the lock (checked by check_can_overwrite)."""
        for entry in self.path.iterdir():
            if entry.name != self.LOCK:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def mark(self) -> None:
        """Write the marker that makes this folder a textmix run directory (and lets --overwrite clear it)."""
        (self.path / self.MARKER).write_text(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")

    # --- the lock ---------------------------------------------------------------------------

    def holder(self) -> str | None:
        """Who holds the lock now (None: nobody); creates nothing."""
        try:
            fd = os.open(self.path / self.LOCK, os.O_RDWR)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None  # closing the file below releases the probe
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def locked(self, action: str):
        """Hold an exclusive OS lock on ``.lock`` while ``action`` writes the run (``flock``: it dies
        with the process, so a crash never leaves a stale lock). A second holder is refused with a
        message naming the first: the holder writes who it is into the locked file itself, which
        ``filelock``'s public API has no place for, hence ``fcntl`` here."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
                raise RunDirError(
                    f"{self.path} is in use by {holder}; wait for it to finish or choose another folder"
                ) from None
            command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:300]
            holder = (
                f"pid {os.getpid()} on {socket.gethostname()} ({action}, since {time.strftime('%H:%M:%S')}: {command})"
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
            yield self
        finally:
            os.close(fd)  # releases the lock
