"""The training loop, torchvision-references style: :func:`train_one_epoch` and :func:`validate`
over a :class:`Session` (what one run holds while it trains)."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from textmix.core.atomic_files import atomic_save_npz, atomic_write_text
from textmix.core.calibrators import uncalibrated_probs
from textmix.core.errors import NonFiniteLossError, RecipeError, TrainingInterrupted
from textmix.core.methods import Method, StepBatch, get_method, head_features
from textmix.core.metrics import calibration_report
from textmix.core.mixer import Mixup
from textmix.engine import checkpoint
from textmix.engine.evaluation import predict_logits
from textmix.engine.logs import get_logger
from textmix.engine.recipe import Recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import TaskData

logger = get_logger(__name__)


@dataclass
class Progress:
    """What a checkpoint must remember besides model, optimizer, scheduler and RNG states."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0
    global_step: int = 0
    best_val_accuracy: float = -1.0
    best_epoch: int = -1
    epoch_loss_sum: float = 0.0  # losses of this epoch's steps before an interruption
    epoch_loss_steps: int = 0
    epoch_seconds: float = 0.0  # wall time of this epoch's training steps so far
    epoch_examples: int = 0  # training examples of this epoch so far, all processes
    history: list = field(default_factory=list)
    timing: list = field(default_factory=list)  # per epoch; apart from history, which is reproducible

    def add_losses(self, losses: list[torch.Tensor]) -> None:
        """Fold step losses into the running sum, in step order (so resumed sums are identical)."""
        for loss in torch.stack(losses).double().cpu().tolist() if losses else []:
            self.epoch_loss_sum += loss
            self.epoch_loss_steps += 1

    def start_next_epoch(self, epoch: int) -> None:
        self.epoch = epoch + 1
        self.step_in_epoch = 0
        self.epoch_loss_sum, self.epoch_loss_steps = 0.0, 0
        self.epoch_seconds, self.epoch_examples = 0.0, 0

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


@dataclass
class Session:
    """One run while it trains: the recipe, its run directory, and the prepared objects."""

    recipe: Recipe
    run: RunDir
    accelerator: Accelerator
    data: TaskData  # loaders prepared by the accelerator
    model: torch.nn.Module  # prepared (wrapped under DDP)
    optimizer: torch.optim.Optimizer
    scheduler: object
    method: Method
    mixer: Mixup | None
    train_sampler: object  # the task's batch sampler, before the accelerator wrapped it
    selection: np.ndarray  # validation rows that select the epoch (all but an eval.conformal carve-out)
    progress: Progress = field(default_factory=Progress)
    epoch_predictions: dict = field(default_factory=dict)  # confidence_E / correct_E on validation

    @functools.cached_property
    def unwrapped(self) -> torch.nn.Module:
        """The model without DDP / compile wrappers (looked up once: accelerate's lookup costs
        about 0.2 ms, which is a GPU step of a small model)."""
        return self.accelerator.unwrap_model(self.model, keep_torch_compile=False)

    def save_checkpoint(self) -> None:
        """checkpoints/step_N (safetensors and JSON, written atomically); older checkpoints are removed."""
        device = self.accelerator.device
        self.method.synchronize(lambda t: self.accelerator.reduce(t.to(device), "sum").cpu())
        checkpoint.save(self, self.progress.global_step)


class StopFlag:
    """Turns SIGINT / SIGTERM into a flag the loop checks between steps; with ``raise_now`` (the
    final evaluation, whose state is already saved) the signal interrupts at once.

    Args:
        raise_now: raise TrainingInterrupted from the signal handler with this message.
    """

    def __init__(self, raise_now: str | None = None):
        self.requested = False
        self.raise_now = raise_now
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        if self.raise_now:
            raise TrainingInterrupted(self.raise_now)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def divergence_suspects(method: str, loss, lr: float) -> str:
    """What a non-finite loss message blames: the method's own ``loss.*`` values where they differ
    from their defaults (a weight of 1e300 diverges at once), then the learning rate."""
    params = get_method(method).params
    values = {key: getattr(loss, key) for key in params}
    changed = [f"loss.{k}={v!r}" for k, v in values.items() if v != params[k].default]
    first = f"check {', '.join(changed)} (method {method}), then " if changed else ""
    return f"{first}lower optim.lr={lr:g}, set optim.grad_clip, or check the data"


def check_finite(losses: torch.Tensor, first_step: int, epoch: int, suspects: str) -> None:
    """Stop at the first non-finite loss, naming its step and the settings to check."""
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        step = first_step + int(bad[0])
        raise NonFiniteLossError(
            f"training loss is {float(losses[int(bad[0])])} at step {step} (epoch {epoch + 1}); {suspects}"
        )


def step_batch(s: Session, batch: dict, num_classes: int) -> StepBatch:
    """What the method sees of one training batch: the forward pass, labels, this step's mixing
    plan (λ and pairing drawn here, once a step) and, when the method needs them, row numbers and
    head features."""
    labels = batch["labels"]  # (B,)
    plan = s.mixer.plan(len(labels), s.accelerator.device) if s.mixer is not None else None
    inputs = s.data.inputs_fn(batch)
    forward = functools.partial(_forward, s.model, inputs)
    features = None
    if "features" in s.method.needs:
        features = functools.partial(head_features, s.unwrapped, functools.partial(_forward, s.unwrapped, inputs, None))
    index = batch.get("index")
    if index is None and "index" in s.method.needs:
        raise RecipeError(
            f"method {s.method.name} needs each batch's row numbers ('index'); task {s.recipe.task} gives none"
        )
    return StepBatch(forward, labels, num_classes, plan, index, s.mixer, features)


def train_one_epoch(s: Session, epoch: int, stop: StopFlag) -> float:
    """Train one epoch (from where an interrupted run stopped); return its mean training loss."""
    recipe, accelerator, progress = s.recipe, s.accelerator, s.progress
    num_classes = s.data.facts["num_classes"]
    s.model.train()
    train_loader = s.data.loaders["train"]
    s.train_sampler.set_epoch(epoch)
    train_loader.set_epoch(epoch)
    loader = train_loader
    if progress.step_in_epoch:
        loader = accelerator.skip_first_batches(train_loader, progress.step_in_epoch)
    losses = []
    s.method.start_epoch(epoch)
    after_step = s.data.after_optimizer_step  # e.g. Kim's max-norm
    # accelerate's optimizer wrapper and backward matter for fp16 loss scaling (and gradient
    # accumulation) only; around a plain step the wrapper spends ~0.2 ms a step on package lookups
    # (a small model's GPU step) and backward divides the loss by 1 (a kernel launch)
    plain = accelerator.scaler is None and accelerator.gradient_accumulation_steps == 1
    optimizer = s.optimizer.optimizer if plain else s.optimizer
    backward = torch.Tensor.backward if plain else accelerator.backward
    started = time.perf_counter()
    suspects = divergence_suspects(recipe.method, recipe.loss, recipe.optim.lr)
    # None: tqdm draws only on a terminal, so log files of sweeps and nohup hold no bar fragments
    disable = None if accelerator.is_local_main_process else True
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{recipe.train.epochs}", disable=disable, leave=False)
    for batch in bar:
        step = step_batch(s, batch, num_classes)
        labels = step.labels  # (B,)
        loss = s.method.step_loss(step)
        backward(loss)
        if recipe.optim.grad_clip:
            accelerator.clip_grad_norm_(s.model.parameters(), recipe.optim.grad_clip)
        optimizer.step()
        s.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if after_step is not None:
            after_step()
        losses.append(loss.detach())
        progress.epoch_examples += len(labels) * accelerator.num_processes
        progress.step_in_epoch += 1
        progress.global_step += 1
        if progress.global_step % recipe.train.log_every == 0:
            recent = torch.stack(losses[-recipe.train.log_every :]).float().cpu()
            check_finite(recent, progress.global_step - len(recent) + 1, epoch, suspects)
            accelerator.log({"train/loss": float(recent.mean())}, step=progress.global_step)
            bar.set_postfix(loss=f"{float(recent.mean()):.4f}")
        if stop.requested:
            progress.epoch_seconds += time.perf_counter() - started
            progress.add_losses(losses)
            s.save_checkpoint()
            raise TrainingInterrupted(
                f"interrupted at epoch {epoch + 1}, step {progress.global_step}; state saved in "
                f"{s.run.checkpoints}; continue with --resume"
            )
    if losses:
        check_finite(torch.stack(losses).float().cpu(), progress.global_step - len(losses) + 1, epoch, suspects)
    progress.add_losses(losses)
    progress.epoch_seconds += time.perf_counter() - started
    progress.timing.append(
        {
            "epoch": epoch + 1,
            "train_seconds": progress.epoch_seconds,
            "train_examples": progress.epoch_examples,
            "examples_per_second": progress.epoch_examples / max(progress.epoch_seconds, 1e-9),
        }
    )
    return progress.epoch_loss_sum / max(progress.epoch_loss_steps, 1)


def _forward(model: torch.nn.Module, inputs: dict, plan) -> torch.Tensor:
    return model(**inputs, plan=plan)  # (B, K)


def validate(s: Session, epoch: int) -> dict:
    """Calibration metrics of the validation split; keeps per-example confidence and correctness."""
    data = s.data
    logits = predict_logits(s.model, data.loaders["validation"], s.accelerator, data.n["validation"], data.inputs_fn)
    probs, labels = uncalibrated_probs(logits[s.selection]), data.labels["validation"][s.selection]
    s.epoch_predictions[f"confidence_{epoch + 1}"] = probs.max(1).astype(np.float32)
    s.epoch_predictions[f"correct_{epoch + 1}"] = probs.argmax(1) == labels
    if "validation" in s.method.needs:
        s.method.after_validation(probs, labels)
    return calibration_report(probs, labels, s.recipe.eval.n_bins)


def record_epoch(s: Session, epoch: int, train_loss: float, val: dict) -> bool:
    """Log the epoch (history, trackers, log.jsonl, epoch_predictions.npz); True if it is the best so far."""
    progress, accelerator = s.progress, s.accelerator
    record = {"epoch": epoch + 1, "step": progress.global_step, "train_loss": train_loss}
    record.update({f"val_{k}": v for k, v in val.items()})
    progress.history.append(record)
    accelerator.log(
        {k.replace("val_", "val/", 1): v for k, v in record.items() if k.startswith("val_")}, step=progress.global_step
    )
    logger.info(
        f"epoch {epoch + 1}: loss {train_loss:.4f} val acc {val['accuracy']:.4f} ece {val['ece']:.4f}",
        main_process_only=True,
    )
    if accelerator.is_main_process:
        atomic_write_text(s.run.log, "".join(json.dumps(r) + "\n" for r in progress.history))
        atomic_save_npz(s.run.epoch_predictions, **s.epoch_predictions)
    if val["accuracy"] > progress.best_val_accuracy:
        progress.best_val_accuracy = val["accuracy"]
        progress.best_epoch = epoch + 1
        return True
    return False
