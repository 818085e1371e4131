"""One recipe → one run directory (:mod:`textmix.engine.run_directory`), on one process or many
(accelerate). The recipe's task builds the model and data; this module trains, checkpoints,
resumes and evaluates, whatever the modality.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed

from textmix.core.atomic_files import (
    atomic_save_npz,
    atomic_write_json,
    atomic_write_text,
    readable_as_umask,
    replace_dir,
)
from textmix.core.calibrators import check_calibrators, uncalibrated_probs
from textmix.core.errors import ArgumentError, RecipeError, RunDirError, TextmixError
from textmix.core.methods import build_method
from textmix.core.metrics import calibration_report
from textmix.core.selective import coverage_table
from textmix.engine import checkpoint, optimizers
from textmix.engine.conformal_sets import settings_of, validation_rows
from textmix.engine.evaluation import evaluate_model, predict_logits, write_outputs
from textmix.engine.logs import get_logger
from textmix.engine.loop import Session, StopFlag, record_epoch, train_one_epoch, validate
from textmix.engine.recipe import Recipe, dump_recipe, recipe_differences, recipe_from_dict, recipe_to_dict
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import TaskData, get_task
from textmix.engine.trackers import check_trackers, final_scalars, tracker_options

logger = get_logger(__name__)


def make_accelerator(**kwargs) -> Accelerator:
    """An Accelerator; several processes without CUDA run on CPU with gloo.

    ``accelerate launch --multi_gpu --num_processes 2`` sets WORLD_SIZE, but accelerate only
    builds a CPU process group when asked for the CPU, so ask for it when no GPU exists. More
    processes than GPUs on one machine is refused here, not by a CUDA error on rank 1.
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if several and torch.cuda.is_available():
        local, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])), torch.cuda.device_count()
        if local > gpus:
            raise ArgumentError(
                f"accelerate launch started {local} processes on this machine but it has {gpus} GPU(s); use "
                f"--num_processes {gpus}, or CUDA_VISIBLE_DEVICES= to run {local} processes on the CPU"
            )
    # Precision comes from the launch (accelerate config or --mixed_precision), never from an
    # Accelerator some other code made earlier in this process: accelerate shares its state, so
    # another library's bf16 trainer in a notebook would otherwise make this run bf16 without a word.
    precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if AcceleratorState._shared_state.get("_mixed_precision", precision) != precision:
        AcceleratorState._reset_state()  # keeps the process group (PartialState)
    # batches from host memory (pinned by the loaders) are copied without making the host wait
    kwargs.setdefault("dataloader_config", DataLoaderConfiguration(non_blocking=True))
    return Accelerator(cpu=several and not torch.cuda.is_available(), mixed_precision=precision, **kwargs)


def recipe_changes(run: RunDir, recipe: Recipe) -> list[str]:
    """The keys where ``recipe`` differs from the one ``run`` was started with (where the run lives
    aside); a saved recipe that cannot be read back is named."""
    try:
        saved = recipe_to_dict(recipe_from_dict(run.read_recipe()))
    except (TextmixError, OSError, yaml.YAMLError) as error:
        raise RunDirError(f"{run.recipe} cannot be read back ({error}); --overwrite starts the run again") from None
    # where the run lives, the trackers it reports to, and model keys its model does not read
    unread = getattr(get_task(recipe.task), "unread_keys", lambda _: [])(recipe.model.name)
    return recipe_differences(saved, recipe_to_dict(recipe), ignore=("train.output_dir", "train.log_with", *unread))


def check_same_recipe(run: RunDir, recipe: Recipe) -> None:
    """--resume continues the saved recipe only: any other value (where the run lives aside) is refused."""
    differences = recipe_changes(run, recipe)
    if differences:
        raise RunDirError(
            f"--resume: the recipe differs from the one {run} was started with in {', '.join(differences)}; "
            "resume with the same recipe, or start a new run (another --output-dir, or --overwrite)"
        )


def prepare_run_dir(run: RunDir, recipe: Recipe, resume: bool, overwrite: bool) -> bool:
    """Check the run directory without changing it; return True if the run is already finished
    (resume of a done run)."""
    if run.path.exists() and not run.path.is_dir():
        raise RunDirError(f"--output-dir {run} is a file, not a folder; choose a new or empty folder")
    holder = run.holder()
    if holder:
        raise RunDirError(f"{run} is in use by {holder}; wait for it to finish or choose another folder")
    if overwrite and resume:
        raise RunDirError("--overwrite and --resume exclude each other")
    if overwrite:
        run.check_can_overwrite()
        return False
    if resume:
        if not run.path.is_dir():
            raise RunDirError(f"--resume: {run} does not exist; drop --resume to start a new run there")
        check_same_recipe(run, recipe)
        if run.finished:
            return True
        if run.latest_checkpoint() is None:
            raise RunDirError(f"--resume: {run} holds no checkpoint (it stopped before the first); use --overwrite")
        return False
    if run.finished:
        raise RunDirError(
            f"{run} already holds a finished run ({RunDir.METRICS}); pass --overwrite to replace "
            "it or choose another --output-dir"
        )
    if run.started:
        raise RunDirError(f"{run} holds an unfinished run; pass --resume to continue it or --overwrite")
    if run.path.exists() and (not run.path.is_dir() or run.foreign_entries()):
        raise RunDirError(f"{run} is not empty and not a textmix run directory; choose a new or empty --output-dir")
    return False


def save_model(data: TaskData, model: nn.Module, run: RunDir, info: dict) -> None:
    """The task writes the model files, the engine ``textmix.json``; the folder appears whole."""
    tmp = run.model.with_name(f".{RunDir.MODEL}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    data.save_model(model, tmp)
    readable_as_umask(tmp)  # safetensors writes weights 0600: others sharing the runs folder could not read them
    if not (tmp / RunDir.WEIGHTS).is_file():
        raise RuntimeError(f"the task's save_model did not write {RunDir.WEIGHTS}")
    atomic_write_json(tmp / RunDir.MODEL_INFO, info)
    replace_dir(tmp, run.model)


def load_weights(model: nn.Module, run: RunDir) -> None:
    from safetensors.torch import load_model

    try:
        load_model(model, str(run.weights))
    except Exception as error:  # noqa: BLE001 - truncated or foreign weights: name the file
        raise RunDirError(f"{run.weights} is unreadable ({type(error).__name__}); --overwrite starts again") from None


def _start(recipe: Recipe, run: RunDir, accelerator: Accelerator, data: TaskData) -> Session:
    """Prepare model, optimizer, loaders, scheduler, method and mixer with the accelerator."""
    train_sampler = data.loaders["train"].batch_sampler
    if data.loaders["train"].generator is None:
        # a loader without a generator of its own draws each epoch's iterator seed from the global
        # RNG, so a resumed epoch (a new iterator after the checkpoint) would draw once more than
        # an uninterrupted one and every later dropout mask would differ
        data.loaders["train"].generator = torch.Generator().manual_seed(recipe.train.seed)
    device = accelerator.device
    data.model.to(device)  # before the optimizer, so that it sees where its parameters live
    if data.on_device is not None:
        data.on_device(data.model, device, accelerator.mixed_precision != "no")
    optimizer = optimizers.make_optimizer(recipe.optim, data.model, device)
    model, optimizer, *loaders = accelerator.prepare(
        data.model, optimizer, data.loaders["train"], data.loaders["validation"], data.loaders["test"]
    )
    if recipe.train.compile:
        model = torch.compile(model)
    data.loaders = dict(zip(("train", "validation", "test"), loaders))
    steps = len(data.loaders["train"])
    # on the plain optimizer, whose step the loop calls (see train_one_epoch)
    scheduler = accelerator.prepare(
        optimizers.make_scheduler(
            recipe.optim, optimizer.optimizer, recipe.train.epochs, steps, accelerator.num_processes
        )
    )
    method = build_method(recipe.method, recipe.loss)
    method.prepare(len(data.loaders["train"].dataset), data.facts["num_classes"])
    # each rank draws its own λ and pairing (and mixing site, for manifold mixup)
    seed = recipe.train.seed * 100_003 + accelerator.process_index
    mixer = method.make_mixer(recipe.mixup.alpha, recipe.mixup.per_sample, data.mix_sites, seed)
    conformal = settings_of(recipe.eval.conformal)
    selection, _ = validation_rows(data.labels["validation"], conformal.split, recipe.train.seed)
    return Session(recipe, run, accelerator, data, model, optimizer, scheduler, method, mixer, train_sampler, selection)


def _resume(s: Session) -> None:
    folder = s.run.latest_checkpoint()
    checkpoint.load(s, folder)
    if s.run.epoch_predictions.is_file():
        try:
            with np.load(s.run.epoch_predictions, allow_pickle=False) as saved:
                s.epoch_predictions = dict(saved)
        except (OSError, ValueError) as error:
            raise RunDirError(f"{s.run.epoch_predictions} is unreadable ({error}); --overwrite starts again") from None
    p = s.progress
    logger.info(f"resumed from {folder} (epoch {p.epoch}, step {p.step_in_epoch})", main_process_only=True)


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
        run_dir: output directory: new, empty, or a textmix run directory (see ``RunDir``).
        resume: continue from the latest checkpoint in ``run_dir`` (a finished run is returned
            as is); the recipe must be the saved one.
        overwrite: delete what textmix wrote in ``run_dir`` first.
        accelerator: an existing Accelerator (default: a new one with the trackers of train.log_with).
    """
    run = RunDir(run_dir)
    task = get_task(recipe.task)
    task.validate(recipe)
    check_trackers(recipe.train.log_with)
    accelerator = accelerator or make_accelerator(
        log_with=recipe.train.log_with or None,
        project_config=ProjectConfiguration(project_dir=str(run.path), logging_dir=str(run.tensorboard)),
    )
    if prepare_run_dir(run, recipe, resume, overwrite):
        return run.read_metrics()
    accelerator.wait_for_everyone()
    main = accelerator.is_main_process
    with run.locked("textmix train") if main else contextlib.nullcontext():
        if main and overwrite:
            run.clear()
        if main and not resume:
            run.mark()
            atomic_write_text(run.recipe, dump_recipe(recipe))
        return _train(recipe, run, task, accelerator, resume)


def _train(recipe: Recipe, run: RunDir, task, accelerator: Accelerator, resume: bool) -> dict:
    set_seed(recipe.train.seed)
    with accelerator.main_process_first():
        data = task.setup(recipe)
    n_train = len(data.loaders["train"].dataset)
    if recipe.train.batch_size > n_train:
        raise RecipeError(
            f"train.batch_size={recipe.train.batch_size} is larger than the training set ({n_train} examples); lower it"
        )
    logger.info(f"data {recipe.data.name}: {data.facts['splits']}, {data.facts['num_classes']} classes")
    try:
        check_calibrators(recipe.eval.fitted_calibrators, data.facts["num_classes"])
    except ArgumentError as error:
        raise RecipeError(f"eval.calibrators: {error}") from None
    try:
        settings_of(recipe.eval.conformal).check_classes(data.facts["num_classes"])
    except ArgumentError as error:
        raise RecipeError(f"eval.conformal: {error}") from None
    s = _start(recipe, run, accelerator, data)
    if resume:
        _resume(s)
    if accelerator.is_main_process:
        accelerator.init_trackers("textmix", config=_flat(recipe_to_dict(recipe)),
                                  init_kwargs=tracker_options(recipe.train.log_with, run.path))  # fmt: skip
    model_info = {
        "model": recipe.model.name,
        "num_classes": data.facts["num_classes"],
        "label_names": data.label_names,
        "method": recipe.method,
        "dataset": recipe.data.name,
    }
    with StopFlag() as stop:
        for epoch in range(s.progress.epoch, recipe.train.epochs):
            train_loss = train_one_epoch(s, epoch, stop)
            best = record_epoch(s, epoch, train_loss, validate(s, epoch))
            if best and accelerator.is_main_process:
                save_model(data, s.unwrapped, run, {**model_info, "epoch": epoch + 1})
            s.progress.start_next_epoch(epoch)
            s.save_checkpoint()
    interrupted = (
        f"interrupted during the final evaluation; training is complete and saved in {run.checkpoints}; "
        "--resume runs the evaluation again"
    )
    with StopFlag(raise_now=interrupted):
        metrics = final_evaluation(s)
        accelerator.log(final_scalars(metrics), step=s.progress.global_step)  # no tracker: nothing
        if accelerator.is_main_process and data.after_training is not None:
            data.after_training(run.path)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # last: it may tear down the process group
    return metrics


def final_evaluation(s: Session) -> dict:
    """Last-epoch metrics, then every metric of the best checkpoint; writes the run's outputs."""
    recipe, accelerator, data, run = s.recipe, s.accelerator, s.data, s.run

    def report(name: str) -> dict:
        logits = predict_logits(s.model, data.loaders[name], accelerator, data.n[name], data.inputs_fn)
        return calibration_report(uncalibrated_probs(logits), data.labels[name], recipe.eval.n_bins)

    last = {"epoch": s.progress.epoch, "val": report("validation"), "test": report("test")}
    accelerator.wait_for_everyone()
    load_weights(s.unwrapped, run)
    evaluation = evaluate_model(s.model, data, accelerator, recipe.eval, recipe.train.seed)
    best, val_logits, test_logits, calibrators = (
        evaluation.report,
        evaluation.val_logits,
        evaluation.test_logits,
        evaluation.calibrators,
    )
    metrics = {
        "method": recipe.method,
        "best_epoch": s.progress.best_epoch,
        **best,
        "last": last,
        "history": s.progress.history,
        "timing": s.progress.timing,
        "data": data.facts,
    }
    if accelerator.is_main_process:
        info = json.loads(run.model_info.read_text())
        calibrator = next(iter(calibrators.values()), None)  # the chosen one comes first
        if calibrator is not None:
            info["calibrator"] = calibrator.to_json()
            info["calibrators"] = {name: c.to_json() for name, c in calibrators.items()}  # predict --calibrator
        info["conformal"] = evaluation.conformal_scores  # predict --conformal
        info["risk_control"] = evaluation.risk_counts  # predict --target-risk (a guarantee)
        # what predict reports: calibrated probabilities
        val_probs = uncalibrated_probs(val_logits) if calibrator is None else calibrator(val_logits)
        correct = val_probs.argmax(1) == data.labels["validation"]
        info["validation_coverage"] = coverage_table(val_probs.max(1), correct)  # --validation-risk / --target-coverage
        atomic_write_json(run.model_info, info)
        write_outputs(run, val_logits, test_logits, data.labels, recipe.eval.n_bins, recipe.title)
        atomic_save_npz(run.scores, **evaluation.scores)
        atomic_write_json(run.metrics, metrics)  # last: its presence marks a finished run
    accelerator.wait_for_everyone()
    return metrics


def _flat(values: dict, prefix: str = "") -> dict:
    """Nested recipe dict → {"section.key": scalar} for trackers (lists become strings)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out
