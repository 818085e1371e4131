"""What a task (a modality: text, vision, yours) hands the engine, and the registry of tasks.

A task owns its recipe sections (``data``, ``model``, and any others), builds the model and the
data loaders, saves and reloads its models, and may act after training (e.g. share the model).
The engine knows nothing else about it.

Tasks are found by ``recipe.task``: first among those added with :func:`register_task`, then among
the ``textmix.tasks`` entry points of installed packages (textmix declares ``text`` and
``vision`` in its ``pyproject.toml``; a third-party package declares its own the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import numpy as np
import torch.nn as nn

from textmix.errors import RecipeError

ENTRY_POINT_GROUP = "textmix.tasks"


@dataclass
class TaskData:
    """A model and its data, ready for the engine.

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
        ood_loaders: ``(recipe, unwrapped model, test loader)`` → {name: (loader, size, inputs_fn)}
            for ``eval.ood``.
        perturb: ``(inputs, mu, generator)`` → inputs moved ``mu`` along a random unit direction
            (``eval.perturbation``); None when the task's inputs are discrete.
        shift_loaders: ``(recipe)`` → {name: (loader, labels (N,), inputs_fn)} for ``eval.shift``:
            test sets of another domain, labels already in this task's label ids.
        fixed_shape_convnet: the model is a 2-D convolutional net and every batch has one shape: on
            a GPU the engine lets cuDNN time its algorithms once (``cudnn.benchmark``) and, with
            mixed precision, stores the model channels-last (NHWC), the layout tensor cores read.
    """

    model: nn.Module
    facts: dict
    label_names: list[str]
    loaders: dict
    labels: dict[str, np.ndarray]
    inputs_fn: Callable[[dict], dict]
    save_model: Callable[[nn.Module, Path], None] | None = None
    ood_loaders: Callable | None = None
    perturb: Callable | None = None
    shift_loaders: Callable | None = None
    fixed_shape_convnet: bool = False
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

    def setup(self, recipe) -> TaskData:
        """Data, model and loaders for training."""

    def load_for_evaluation(self, recipe, model_dir: Path) -> TaskData:
        """The saved model of ``model_dir`` with validation and test loaders (no ``train``)."""

    def after_training(self, recipe, run_dir) -> None:
        """Called once on the main process after a run finished (metrics written)."""


_TASKS: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Make ``task: NAME`` recipes use ``factory()`` (a Task class or a function returning one)."""
    _TASKS[name] = factory


def task_names() -> list[str]:
    return sorted(set(_TASKS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def get_task(name: str) -> Task:
    """The task registered as ``name``; RecipeError naming the known ones otherwise."""
    if name not in _TASKS:
        found = entry_points(group=ENTRY_POINT_GROUP, name=name)
        if not found:
            known = ", ".join(task_names()) or "none (is textmix installed? pip install -e .)"
            raise RecipeError(f"task={name!r} is invalid: must be one of {known}")
        _TASKS[name] = next(iter(found)).load()
    return _TASKS[name]()
