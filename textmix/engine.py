"""The training loop: one recipe → one run directory, on one process or many (accelerate).

RUN_DIR holds ``recipe.yaml`` (resolved), ``metrics.json``, ``predictions.npz``, ``reliability.png``,
``log.jsonl`` (one line per epoch), ``epoch_predictions.npz`` (validation confidence and
correctness after every epoch), ``scores.npz`` (winning scores of the test split and of every OOD
set, per scoring method), ``model/`` (best-validation-accuracy checkpoint, ``save_pretrained``
form) and ``checkpoints/`` (``accelerator.save_state`` for ``--resume``).

The engine is modality-free: ``recipe.task`` picks the module (``textmix.task`` or
``vision.task``) whose ``setup(recipe)`` returns the model, loaders and input function.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from textmix.calibration import calibration_report
from textmix.evaluate import RunData, evaluate_model, predict_logits, softmax, write_outputs
from textmix.io import TEXTMIX_FILE, atomic_save_npz, atomic_write_json, atomic_write_text, replace_dir
from textmix.losses import confidence_penalty_loss, smooth_targets, soft_target_cross_entropy
from textmix.mixup import Mixup, one_hot_targets
from textmix.recipe import Recipe, dump_recipe, recipe_to_dict

TASK_MODULES = {"text": "textmix.task", "vision": "vision.task"}

logger = get_logger(__name__)


class RunDirError(RuntimeError):
    """The run directory is in a state the requested action cannot start from."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(RuntimeError):
    """SIGINT / SIGTERM arrived; state was saved and ``--resume`` continues the run."""


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

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


def task_module(recipe: Recipe):
    """The module (``check_names``, ``setup``) of the recipe's task."""
    return importlib.import_module(TASK_MODULES[recipe.task])


def make_mixer(recipe: Recipe, seed: int, sites: int = 1) -> Mixup | None:
    if recipe.method not in ("mixup", "mixup_features_only"):
        return None
    return Mixup(
        alpha=recipe.mixup.alpha,
        per_sample=recipe.mixup.per_sample,
        mode="features_only" if recipe.method == "mixup_features_only" else "full",
        sites=sites,
        generator=torch.Generator().manual_seed(seed),
    )


def training_loss(recipe: Recipe, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The method's loss on (B, K) logits and (B, K) probability targets."""
    if recipe.method == "label_smoothing":
        targets = smooth_targets(targets, recipe.loss.label_smoothing)
    if recipe.method == "erl":
        return confidence_penalty_loss(logits, targets, recipe.loss.erl_kappa)
    return soft_target_cross_entropy(logits, targets)


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    o = recipe.optim
    if o.name == "adadelta":
        return torch.optim.Adadelta(params, lr=o.lr, rho=o.rho, eps=o.eps, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, eps=o.eps, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov, weight_decay=o.weight_decay)


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int, num_processes: int):
    o = recipe.optim
    # accelerate steps a prepared scheduler once per process per optimizer step
    total = steps_per_epoch * recipe.train.epochs * num_processes
    if o.schedule == "linear":
        warmup = int(o.warmup_ratio * total)

        def factor(step):
            if step < warmup:
                return (step + 1) / max(warmup, 1)
            return max(0.0, (total - step) / max(total - warmup, 1))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if o.schedule == "step":
        milestones = [m * steps_per_epoch * num_processes for m in o.milestones]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=o.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def save_model(model: nn.Module, featurizer, folder: Path, info: dict) -> None:
    """Write model weights + config, featurizer and textmix facts to ``folder`` atomically."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(tmp)
    else:
        from safetensors.torch import save_model as save_safetensors

        save_safetensors(model, str(tmp / "model.safetensors"))
    featurizer.save(tmp)
    (tmp / TEXTMIX_FILE).write_text(json.dumps(info, indent=2))
    replace_dir(tmp, folder)


def load_weights(model: nn.Module, folder: Path) -> None:
    from safetensors.torch import load_model

    load_model(model, str(folder / "model.safetensors"))


def _latest_checkpoint(run_dir: Path) -> Path | None:
    folders = sorted((run_dir / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return folders[-1] if folders else None


def make_accelerator(**kwargs) -> Accelerator:
    """An Accelerator; several processes without CUDA run on CPU with gloo.

    ``accelerate launch --multi_gpu --num_processes 2`` sets WORLD_SIZE, but accelerate only
    builds a CPU process group when asked for the CPU, so ask for it when no GPU exists.
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(cpu=several and not torch.cuda.is_available(), **kwargs)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool, is_main: bool) -> bool:
    """Check the run directory; return True if the run is already finished (resume of a done run)."""
    finished = (run_dir / "metrics.json").exists()
    started = (run_dir / "checkpoints").exists() or finished
    if overwrite and resume:
        raise RunDirError("--overwrite and --resume exclude each other")
    if overwrite:
        if is_main and run_dir.exists():
            shutil.rmtree(run_dir)
        return False
    if resume:
        return finished
    if finished:
        raise RunDirError(
            f"{run_dir} already holds a finished run (metrics.json); pass --overwrite to replace "
            "it or choose another --output-dir"
        )
    if started:
        raise RunDirError(f"{run_dir} holds an unfinished run; pass --resume to continue it or --overwrite")
    return False


class _StopFlag:
    """Turns SIGINT / SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def train(
    recipe: Recipe,
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    accelerator: Accelerator | None = None,
) -> dict:
    """Train ``recipe`` into ``run_dir`` and return its metrics (also written to metrics.json).

    Args:
        recipe: a validated recipe.
        run_dir: output directory.
        resume: continue from the latest checkpoint in ``run_dir`` (a finished run is returned
            as is).
        overwrite: delete ``run_dir`` first.
        accelerator: an existing Accelerator (default: a new one with tensorboard tracking).
    """
    run_dir = Path(run_dir)
    task = task_module(recipe)
    task.check_names(recipe)
    accelerator = accelerator or make_accelerator(
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "tensorboard")),
    )
    if prepare_run_dir(run_dir, resume, overwrite, accelerator.is_main_process):
        return json.loads((run_dir / "metrics.json").read_text())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    set_seed(recipe.train.seed)

    with accelerator.main_process_first():
        data: RunData = task.setup(recipe)
    n_train = len(data.loaders["train"].dataset)
    if recipe.train.batch_size > n_train:
        raise ValueError(
            f"train.batch_size={recipe.train.batch_size} is larger than the training set ({n_train} examples); lower it"
        )
    facts, num_classes = data.facts, data.facts["num_classes"]
    logger.info(f"data {recipe.data.name}: {facts['splits']}, {num_classes} classes", main_process_only=True)

    train_sampler = data.loaders["train"].batch_sampler
    optimizer = make_optimizer(recipe, data.model)
    model, optimizer, train_loader, val_loader, test_loader = accelerator.prepare(
        data.model, optimizer, data.loaders["train"], data.loaders["validation"], data.loaders["test"]
    )
    data.loaders = {"train": train_loader, "validation": val_loader, "test": test_loader}
    scheduler = accelerator.prepare(make_scheduler(recipe, optimizer, len(train_loader), accelerator.num_processes))
    unwrapped = accelerator.unwrap_model(model)
    # each rank draws its own λ and pairing (and mixing site, for manifold mixup)
    mixer = make_mixer(
        recipe, seed=recipe.train.seed * 100_003 + accelerator.process_index, sites=getattr(unwrapped, "mix_sites", 1)
    )
    progress = Progress()
    accelerator.register_for_checkpointing(progress)
    if mixer is not None:
        accelerator.register_for_checkpointing(mixer)

    checkpoint = _latest_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        logger.info(
            f"resumed from {checkpoint} (epoch {progress.epoch}, step {progress.step_in_epoch})", main_process_only=True
        )
    if accelerator.is_main_process:
        accelerator.init_trackers("textmix", config=_flat(recipe_to_dict(recipe)))

    featurizer, labels, n = data.featurizer, data.labels, data.n
    epoch_predictions = _load_epoch_predictions(run_dir) if checkpoint is not None else {}
    model_info = {
        "model": recipe.model.name,
        "num_classes": num_classes,
        "label_names": data.label_names,
        "method": recipe.method,
        "dataset": recipe.data.name,
    }

    def save_state():
        folder = run_dir / "checkpoints" / f"step_{progress.global_step}"
        accelerator.save_state(str(folder))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            for old in (run_dir / "checkpoints").glob("step_*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)

    with _StopFlag() as stop:
        for epoch in range(progress.epoch, recipe.train.epochs):
            model.train()
            train_sampler.set_epoch(epoch)
            train_loader.set_epoch(epoch)
            loader = train_loader
            if progress.step_in_epoch:
                loader = accelerator.skip_first_batches(train_loader, progress.step_in_epoch)
            losses = []
            started = time.perf_counter()
            bar = tqdm(
                loader,
                desc=f"epoch {epoch + 1}/{recipe.train.epochs}",
                disable=not accelerator.is_local_main_process,
                leave=False,
            )
            for batch in bar:
                plan = mixer.plan(len(batch["labels"]), accelerator.device) if mixer is not None else None
                logits = model(**data.inputs_fn(batch), plan=plan)
                targets = (
                    plan.mix_targets(batch["labels"], num_classes)
                    if plan is not None
                    else one_hot_targets(batch["labels"], num_classes)
                )
                loss = training_loss(recipe, logits, targets)
                accelerator.backward(loss)
                if recipe.optim.grad_clip:
                    accelerator.clip_grad_norm_(model.parameters(), recipe.optim.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if hasattr(unwrapped, "after_optimizer_step"):
                    unwrapped.after_optimizer_step()
                losses.append(loss.detach())
                progress.epoch_examples += len(batch["labels"]) * accelerator.num_processes
                progress.step_in_epoch += 1
                progress.global_step += 1
                if progress.global_step % recipe.train.log_every == 0:
                    recent = torch.stack(losses[-recipe.train.log_every :]).float().cpu()
                    _check_finite(recent, progress.global_step - len(recent) + 1, epoch)
                    accelerator.log({"train/loss": float(recent.mean())}, step=progress.global_step)
                    bar.set_postfix(loss=f"{float(recent.mean()):.4f}")
                if stop.requested:
                    progress.epoch_seconds += time.perf_counter() - started
                    progress.add_losses(losses)
                    save_state()
                    raise TrainingInterrupted(
                        f"interrupted at epoch {epoch + 1}, step {progress.global_step}; state saved in "
                        f"{run_dir / 'checkpoints'}; continue with --resume"
                    )
            if losses:
                _check_finite(torch.stack(losses).float().cpu(), progress.global_step - len(losses) + 1, epoch)
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
            train_loss = progress.epoch_loss_sum / max(progress.epoch_loss_steps, 1)

            val_probs = softmax(predict_logits(model, val_loader, accelerator, n["validation"], data.inputs_fn))
            val = calibration_report(val_probs, labels["validation"], recipe.eval.n_bins)
            epoch_predictions[f"confidence_{epoch + 1}"] = val_probs.max(1).astype(np.float32)
            epoch_predictions[f"correct_{epoch + 1}"] = val_probs.argmax(1) == labels["validation"]
            record = {
                "epoch": epoch + 1,
                "step": progress.global_step,
                "train_loss": train_loss,
                **{f"val_{k}": v for k, v in val.items()},
            }
            progress.history.append(record)
            accelerator.log(
                {k.replace("val_", "val/", 1): v for k, v in record.items() if k.startswith("val_")},
                step=progress.global_step,
            )
            logger.info(
                f"epoch {epoch + 1}: loss {record['train_loss']:.4f} val acc {val['accuracy']:.4f} "
                f"ece {val['ece']:.4f}",
                main_process_only=True,
            )
            if val["accuracy"] > progress.best_val_accuracy:
                progress.best_val_accuracy = val["accuracy"]
                progress.best_epoch = epoch + 1
                if accelerator.is_main_process:
                    save_model(unwrapped, featurizer, run_dir / "model", {**model_info, "epoch": epoch + 1})
            if accelerator.is_main_process:
                atomic_write_text(run_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in progress.history))
                atomic_save_npz(run_dir / "epoch_predictions.npz", **epoch_predictions)
            progress.epoch = epoch + 1
            progress.step_in_epoch = 0
            progress.epoch_loss_sum, progress.epoch_loss_steps = 0.0, 0
            progress.epoch_seconds, progress.epoch_examples = 0.0, 0
            save_state()

    metrics = _final_evaluation(recipe, accelerator, model, data, run_dir, progress)
    accelerator.end_training()
    return metrics


def _load_epoch_predictions(run_dir: Path) -> dict:
    path = run_dir / "epoch_predictions.npz"
    if not path.is_file():
        return {}
    with np.load(path) as saved:
        return dict(saved)


def _final_evaluation(recipe, accelerator, model, data: RunData, run_dir, progress) -> dict:
    """Last-epoch metrics, then every metric of the best checkpoint; writes the run's outputs."""

    def report(name: str) -> dict:
        logits = predict_logits(model, data.loaders[name], accelerator, data.n[name], data.inputs_fn)
        return calibration_report(softmax(logits), data.labels[name], recipe.eval.n_bins)

    last = {"epoch": progress.epoch, "val": report("validation"), "test": report("test")}
    accelerator.wait_for_everyone()
    load_weights(accelerator.unwrap_model(model), run_dir / "model")
    best, val_logits, test_logits, scores = evaluate_model(recipe, accelerator, model, data)
    metrics = {
        "method": recipe.method,
        "best_epoch": progress.best_epoch,
        **best,
        "last": last,
        "history": progress.history,
        "timing": progress.timing,
        "data": data.facts,
    }
    if accelerator.is_main_process:
        if "temperature_scaled" in metrics:
            info_path = run_dir / "model" / TEXTMIX_FILE
            info = json.loads(info_path.read_text())
            info["temperature"] = metrics["temperature_scaled"]["temperature"]
            atomic_write_json(info_path, info)
        write_outputs(recipe, run_dir, val_logits, test_logits, data.labels)
        atomic_save_npz(run_dir / "scores.npz", **scores)
        atomic_write_json(run_dir / "metrics.json", metrics)
        if recipe.hub.push:
            from textmix.hub import push_run

            url = push_run(run_dir, recipe.hub.repo_id, private=recipe.hub.private)
            logger.info(f"pushed the best model to {url}", main_process_only=True)
    accelerator.wait_for_everyone()
    return metrics


def _check_finite(losses: torch.Tensor, first_step: int, epoch: int) -> None:
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        step = first_step + int(bad[0])
        raise NonFiniteLossError(
            f"training loss is {float(losses[int(bad[0])])} at step {step} (epoch {epoch + 1}); "
            "lower optim.lr, set optim.grad_clip, or check the data"
        )


def _flat(values: dict, prefix: str = "") -> dict:
    """Nested recipe dict → {"section.key": scalar} for trackers (lists become strings)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out
