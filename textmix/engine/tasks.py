"""What a task (a modality: text, vision, yours) hands the engine, and the registry of tasks.

A task owns its recipe sections (``data``, ``model``, and any others), builds the model and the
data loaders, saves and reloads its models, and may act after training (e.g. share the model).
The engine knows nothing else about it.

Tasks are found by ``recipe.task``: first among those added with :func:`register_task`, then among
the ``textmix.tasks`` entry points of installed packages (textmix declares ``text`` and
``vision`` in its ``pyproject.toml``; a third-party package declares its own the same way).

Where a task keeps its data (:func:`data_device`): on the accelerator (one copy per process,
batches cut there, no host-to-device copy per step) or in host memory (batches copied per step).
``data.device_resident`` chooses: ``true`` (the accelerator, whatever the size), ``false`` (host
memory) or ``auto`` (the accelerator when it is a GPU and the splits take at most
``RESIDENT_SHARE`` of its free memory, leaving the rest to the model and activations). On a
CPU-only machine every setting means host memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
from accelerate import PartialState

from textmix.core.registry import Registry

RESIDENT_SETTINGS = (True, False, "auto")
RESIDENT_SHARE = 0.25  # of the GPU's free memory at setup, for `auto`


def data_device(setting: bool | str, nbytes: int) -> torch.device:
    """The device to hold ``nbytes`` of a task's tensors on, for ``data.device_resident=setting``."""
    device = PartialState().device
    if device.type == "cpu" or setting is False:
        return torch.device("cpu")
    if setting == "auto":
        free, _ = torch.cuda.mem_get_info(device) if device.type == "cuda" else (0, 0)
        return device if nbytes <= RESIDENT_SHARE * free else torch.device("cpu")
    return device


ENTRY_POINT_GROUP = "textmix.tasks"


@dataclass
class EvalSet:
    """A set the engine only evaluates (an OOD set, a shifted test set).

    Args:
        loader: a DataLoader (not yet prepared by accelerate); batches carry ``index``.
        size: examples in the set.
        inputs_fn: batch → keyword arguments of the model.
        labels: (N,) labels in the task's label ids (None for OOD sets, which have none).
    """

    loader: object
    size: int
    inputs_fn: Callable[[dict], dict]
    labels: np.ndarray | None = None


@dataclass
class TaskData:
    """A model and its data, ready for the engine. The task builds it from the recipe, so every
    callback here has already captured what it needs.

    Args:
        model: the module; ``forward(**inputs_fn(batch), plan=None)`` returns (B, K) logits.
        facts: dict logged to metrics.json (``num_classes``, split sizes, train label counts...).
        label_names: class names in label-id order.
        loaders: ``train`` (training only) / ``validation`` / ``test`` DataLoaders; batches carry
            ``labels`` and ``index`` (row number in the split). The train loader's batch sampler
            has ``set_epoch``.
        labels: ``validation`` / ``test`` → (N,) labels in dataset order.
        inputs_fn: batch → keyword arguments of the model.
        save_model: ``(model, folder)`` writes the weights as ``model.safetensors`` and whatever
            reloading needs (configuration, lookup tables) into ``folder``.
        ood_sets: ``(unwrapped model)`` → {name: EvalSet} for the recipe's ``eval.ood``.
        shift_sets: ``()`` → {name: EvalSet with labels} for ``eval.shift``: test sets of another
            domain, labels already in this task's label ids.
        perturb: ``(inputs, mu, generator)`` → inputs moved ``mu`` along a random unit direction
            (``eval.perturbation``); None when the task's inputs are discrete.
        mix_sites: mix points a mixer draws among per batch (manifold mixup); 1: one fixed point.
        after_optimizer_step: called after every optimizer step (e.g. Kim's max-norm constraint).
        after_training: ``(run directory)``, called once on the main process after the run finished
            (metrics written), e.g. to share the model.
        on_device: ``(model, device, mixed_precision)`` once the model is on its training device,
            before the optimizer is built: the task's device-specific choices (e.g. cuDNN autotuning
            and channels-last memory for fixed-shape convolutional nets on a GPU).
    """

    model: nn.Module
    facts: dict
    label_names: list[str]
    loaders: dict
    labels: dict[str, np.ndarray]
    inputs_fn: Callable[[dict], dict]
    save_model: Callable[[nn.Module, Path], None] | None = None
    ood_sets: Callable[[nn.Module], dict[str, EvalSet]] | None = None
    shift_sets: Callable[[], dict[str, EvalSet]] | None = None
    perturb: Callable | None = None
    mix_sites: int = 1
    after_optimizer_step: Callable[[], None] | None = None
    on_device: Callable[[nn.Module, object, bool], None] | None = None
    after_training: Callable[[Path], None] | None = None
    n: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.n = {name: len(labels) for name, labels in self.labels.items()}


class Task(Protocol):
    """A modality the engine can train.

    Attributes:
        sections: recipe sections the task owns, name → dataclass (at least ``data`` and
            ``model``; each dataclass documents its keys in an ``Args:`` docstring).
        legacy_keys: dotted keys that older textmix versions wrote into every resolved recipe
            but this task does not use, with the value they then had: accepted when a recipe
            holds that value (old ``recipe.yaml`` files), refused otherwise.
        default_mix_point: ``mixup.mix_point`` when a recipe gives none.
        repetition_keys: dotted keys of the task's sections that may differ between the seeds of
            one setting in a report (split seeds, folds, sharing settings).
    """

    sections: dict[str, type]
    legacy_keys: dict[str, object]
    default_mix_point: str
    repetition_keys: tuple[str, ...]

    def validate(self, recipe) -> None:
        """Check names and settings before any data is loaded; raise RecipeError / DataError."""

    # Optional: ``dataset_label(data_section: dict) -> str``, the dataset's name in reports (default:
    # data.name); a file's name for a task that reads local files, so two files are two datasets.
    # Optional: ``unread_keys(model_name) -> list[str]``, dotted keys of the model section that model
    # does not read (left out when saved recipes are compared: resume, sweeps, reports); without: none.
    # Optional: ``mix_point_kind(model_section, mix_point) -> str``, what the mix point carries:
    # "sequences" (token sequences (B, T, D)) or anything else (e.g. "vectors"); a task without
    # it is taken to carry no sequences (Method.mixes == "sequences" is refused).

    def setup(self, recipe) -> TaskData:
        """Data, model and loaders for training."""

    def load_for_evaluation(self, recipe, model_dir: Path) -> TaskData:
        """The saved model of ``model_dir`` with validation and test loaders (no ``train``)."""


def _from_entry_point(name: str) -> Callable[[], Task] | None:
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    return next(iter(found)).load() if found else None


# installed packages declare tasks as entry points; they load on first use
TASKS: Registry[Callable[[], Task]] = Registry(
    "task", fallback=_from_entry_point, extra_names=lambda: [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
)


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Make ``task: NAME`` recipes use ``factory()`` (a Task class or a function returning one)."""
    TASKS.add(name, factory)


def task_names() -> list[str]:
    return sorted(TASKS.names())


def get_task(name: str) -> Task:
    """The task registered as ``name``; UnknownNameError naming the known ones otherwise."""
    return TASKS.get(name)()
