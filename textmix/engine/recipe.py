"""Experiment recipes: nested dataclasses, YAML defaults, ``--set key.sub=value`` overrides.

The engine owns the sections every task shares (``method``, ``mixup``, ``loss``, ``optim``,
``train``, ``eval``); the recipe's task owns ``data``, ``model`` and any further sections
(:attr:`textmix.engine.tasks.Task.sections`). Unknown keys are rejected with the closest valid
key; values are checked against the field types (strings such as ``2e-5``, which PyYAML reads as
str, are converted for float fields). Hardware (devices, processes, mixed precision) is not a
recipe matter: it lives in accelerate configs (``recipes/accelerate/*.yaml``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textmix.core.calibrators import get_calibrator
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.errors import RecipeError
from textmix.core.methods import get_method, loss_section, method_params
from textmix.core.registry import UnknownNameError
from textmix.core.risk_control import RiskSettings
from textmix.engine.optimizers import OPTIMIZERS, SCHEDULES
from textmix.engine.recipe_yaml import parse_yaml
from textmix.engine.sections import EvalConfig, MixupConfig, OptimConfig, TrainConfig
from textmix.engine.tasks import Task, get_task
from textmix.engine.trackers import TRACKERS

DEFAULT_TASK = "text"

logger = logging.getLogger(__name__)


def shared_sections() -> dict[str, type]:
    """The sections every recipe has; ``loss`` holds the keys of every registered method."""
    return {
        "mixup": MixupConfig,
        "loss": loss_section(),
        "optim": OptimConfig,
        "train": TrainConfig,
        "eval": EvalConfig,
    }


@dataclass
class Recipe:
    """Args:
    task: the registered task whose data and models the recipe names (built in: text, and the
        task of the vision/ package; yours through textmix.engine.register_task).
    method: a registered training method (textmix.core.methods): {methods}.
    """

    task: str = DEFAULT_TASK
    method: str = "baseline"
    data: Any = None  # the task's data section (has ``name``)
    model: Any = None  # the task's model section (has ``name``)
    mixup: MixupConfig = field(default_factory=MixupConfig)
    loss: Any = field(default_factory=lambda: loss_section()())  # the registered methods' keys
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    extra: dict[str, Any] = field(default_factory=dict)  # further task-owned sections, by name

    @property
    def title(self) -> str:
        """``<data> <model> <method>``, e.g. for a run's reliability diagram."""
        return f"{self.data.name} {self.model.name} {self.method}"

    @property
    def mixes(self) -> bool:
        """True when the recipe's method trains on mixed examples."""
        return get_method(self.method).mixing is not None

    def validate(self) -> Recipe:
        """Check the shared sections' values that types alone cannot; raise RecipeError naming the key."""
        alpha = self.mixup.alpha
        method = get_method(self.method)  # unknown names: one line with the closest known one
        for name in self.eval.calibrators:
            try:
                get_calibrator(name)
            except UnknownNameError as error:
                raise UnknownNameError(f"eval.calibrators: {error}") from None
        checks = [
            (math.isfinite(alpha) and alpha >= 0, "mixup.alpha", "a finite number >= 0 (0 disables mixing)"),
            *(
                (param.valid(getattr(self.loss, key)), f"loss.{key}", param.expected)
                for key, param in method_params().items()
            ),
            (self.train.epochs >= 1, "train.epochs", ">= 1"),
            (self.train.batch_size >= 1, "train.batch_size", ">= 1"),
            (self.train.eval_batch_size >= 1, "train.eval_batch_size", ">= 1"),
            (self.train.log_every >= 1, "train.log_every", ">= 1"),
            (set(self.train.log_with) <= set(TRACKERS), "train.log_with", f"a list of {', '.join(TRACKERS)}"),
            (math.isfinite(self.optim.lr) and self.optim.lr > 0, "optim.lr", "> 0"),
            (self.optim.name in OPTIMIZERS, "optim.name", " or ".join(OPTIMIZERS)),
            (self.optim.schedule in SCHEDULES, "optim.schedule", " or ".join(SCHEDULES)),
            (0 <= self.optim.warmup_ratio < 1, "optim.warmup_ratio", "in [0, 1)"),
            (self.eval.n_bins >= 1, "eval.n_bins", ">= 1"),
            (len(set(self.eval.calibrators)) == len(self.eval.calibrators), "eval.calibrators", "distinct names"),
            (
                self.eval.calibrator in ("auto", *self.eval.calibrators),
                "eval.calibrator",
                "auto or one of eval.calibrators",
            ),
            (self.eval.mc_dropout_samples >= 0, "eval.mc_dropout_samples", ">= 0"),
            (
                self.eval.bootstrap_resamples in (0,) or self.eval.bootstrap_resamples >= 100,
                "eval.bootstrap_resamples",
                "0 (off) or >= 100",
            ),
            (
                self.eval.floor_draws == 0 or self.eval.floor_draws >= 100,
                "eval.floor_draws",
                "0 (off) or >= 100",
            ),
            (all(mu >= 0 for mu in self.eval.perturbation), "eval.perturbation", "distances >= 0"),
        ]
        checks += method.recipe_checks(self.loss, self.train, self.mixup)
        for section in ("data", "model", *self.extra):
            config = getattr(self, section) if section in ("data", "model") else self.extra[section]
            checks += [(ok, f"{section}.{key}", expected) for ok, key, expected in getattr(config, "checks", list)()]
        for ok, key, expected in checks:
            if not ok:
                raise RecipeError(f"{key}={_get(self, key)!r} is invalid: must be {expected}")
        try:
            ConformalSettings.parse(self.eval.conformal)
            RiskSettings.parse(self.eval.risk_control)
        except (TypeError, ValueError) as error:
            raise RecipeError(str(error)) from None
        ignored = [
            f"loss.{key}={getattr(self.loss, key)!r}"
            for key, param in method_params().items()
            if key not in method.params and getattr(self.loss, key) != param.default
        ]
        if ignored:  # said, not refused: a sweep over methods shares one loss section
            logger.warning("method=%s ignores %s (settings of other methods)", self.method, ", ".join(ignored))
        if self.mixup.alpha == 0 and self.mixes:
            raise RecipeError(f"method={self.method} with mixup.alpha=0 never mixes; use method=baseline or alpha > 0")
        return self


def _get(recipe: Recipe, key: str):
    section, _, rest = key.partition(".")
    value = recipe.extra[section] if section in recipe.extra else getattr(recipe, section)
    for part in rest.split(".") if rest else []:
        value = getattr(value, part)
    return value


def type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, key: str):
    """Check ``value`` against the annotation ``tp``; convert the safe cases (int → float,
    numeric strings → float, tuples → lists)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for option in inner[:-1]:  # e.g. bool | str: the first type the value is
            try:
                return _coerce(value, option, key)
            except RecipeError:
                pass
        try:
            return _coerce(value, inner[-1], key)
        except RecipeError:
            if len(inner) == 1:
                raise
            raise RecipeError(f"{key} must be {type_name(tp)}, got {value!r} ({type(value).__name__})") from None
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # PyYAML reads 2e-5 (no dot) as a string
            except ValueError:
                pass
    elif tp is str and isinstance(value, str):
        return value
    raise RecipeError(f"{key} must be {type_name(tp)}, got {value!r} ({type(value).__name__})")


def _unknown_key(key: str, names: list[str], prefix: str) -> RecipeError:
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
    return RecipeError(f"unknown recipe key '{prefix}{key}'{hint}")


def _from_dict(cls, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise RecipeError(f"{prefix.rstrip('.')} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise _unknown_key(key, names, prefix)
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def apply_override(values: dict, assignment: str) -> None:
    """Apply ``key.sub=value`` (value parsed as YAML) to a nested dict in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set expects key.sub=value, got {assignment!r}")
    parts = key.strip().split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"--set {assignment!r}: {part!r} is not a section")
    node[parts[-1]] = parse_yaml(raw, f"--set {assignment!r}") if raw.strip() else None


def _drop_legacy_keys(values: dict, task: Task, task_name: str) -> None:
    """Remove keys older textmix wrote into every recipe that this task does not use, when they
    hold their old value (resolved ``recipe.yaml`` of old runs); refuse them otherwise."""
    for dotted, old in task.legacy_keys.items():
        section, _, key = dotted.partition(".")
        node = values.get(section)
        if not isinstance(node, dict) or key not in node:
            continue
        if node[key] != old:
            raise RecipeError(f"{dotted}={node[key]!r} does not apply to task={task_name} recipes; remove it")
        del node[key]
        if not node:
            del values[section]


def recipe_from_dict(values: dict, overrides: list[str] = ()) -> Recipe:
    """Build and validate a recipe from a nested dict plus ``key=value`` overrides."""
    if not isinstance(values, dict):
        raise RecipeError(f"a recipe must be a mapping of sections, got {type(values).__name__}: {values!r}")
    values = copy.deepcopy(values)
    for assignment in overrides:
        apply_override(values, assignment)
    task_name = values.get("task", DEFAULT_TASK)
    if not isinstance(task_name, str):
        raise RecipeError(f"task must be str, got {task_name!r}")
    task = get_task(task_name)
    _drop_legacy_keys(values, task, task_name)
    sections = {**task.sections, **shared_sections()}
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("task", "method"):
            parsed[key] = _coerce(value, str, key)
        elif key in sections:
            parsed[key] = _from_dict(sections[key], value or {}, f"{key}.")
        else:
            raise _unknown_key(key, ["task", "method", *sections], "")
    for name, cls in sections.items():
        parsed.setdefault(name, cls())
    extra = {name: parsed.pop(name) for name in task.sections if name not in ("data", "model")}
    recipe = Recipe(**parsed, extra=extra)
    if recipe.mixup.mix_point is None:
        recipe.mixup.mix_point = task.default_mix_point
    recipe.validate()
    task.validate(recipe)
    check_method_fits(recipe, task)
    return recipe


def check_method_fits(recipe: Recipe, task: Task) -> None:
    """Refuse, at recipe load, a method whose plans cannot mix what the task's mix point carries."""
    method = get_method(recipe.method)
    if method.mixes == "any" or not recipe.mixes:
        return
    kind_of = getattr(task, "mix_point_kind", None)
    kind = kind_of(recipe.model, recipe.mixup.mix_point) if kind_of else "no token sequences"
    if kind != method.mixes:
        raise RecipeError(
            f"method {method.name} mixes {method.mixes} only, but mixup.mix_point={recipe.mixup.mix_point!r} of "
            f"task {recipe.task} carries {kind}; choose a mix point with token sequences (text: embeddings or hidden:K)"
        )


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """Read a YAML recipe file, apply overrides, validate."""
    path = Path(path)
    if path.is_dir():
        raise RecipeError(f"recipe {str(path)!r} is a folder; give a YAML recipe file")
    if not path.is_file():
        raise RecipeError(f"recipe file {str(path)!r} does not exist")
    try:
        text = path.read_text()
    except UnicodeDecodeError as error:
        raise RecipeError(f"recipe {path} is not UTF-8 text ({error})") from None
    values = parse_yaml(text, f"recipe {path}")
    if values is None:
        raise RecipeError(f"recipe {path} is empty; give at least method and data (see recipes/mr/*.yaml)")
    if not isinstance(values, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections (key: value), got {type(values).__name__}")
    return recipe_from_dict(values, overrides)


def recipe_to_dict(recipe: Recipe) -> dict:
    out = {"task": recipe.task, "method": recipe.method}
    for name in ("data", "model", *shared_sections()):
        out[name] = dataclasses.asdict(getattr(recipe, name))
    # the loss keys of this recipe's method only: another method registered in this process (a
    # notebook, a test) must not make the run's recipe.yaml unreadable where it is not registered
    out["loss"] = {key: out["loss"][key] for key in get_method(recipe.method).params}
    out.update({name: dataclasses.asdict(section) for name, section in recipe.extra.items()})
    return out


def dump_recipe(recipe: Recipe) -> str:
    """The recipe as YAML text: every key resolved (what a run's recipe.yaml holds)."""
    return yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False)


def recipe_differences(a: dict, b: dict, prefix: str = "", ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two recipe dicts, ``ignore`` keys (and their
    sub-keys) left out."""
    keys = []
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        if any(name == r or name.startswith(f"{r}.") for r in ignore):
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += recipe_differences(va, vb, f"{name}.", ignore)
        elif va != vb:
            keys.append(name)
    return keys
