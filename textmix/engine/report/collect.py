"""Finished runs grouped into settings (dataset, model, method setting); the repetitions are
(training seed, split seed) pairs."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textmix.core.assessment import NONE, Assessment
from textmix.core.assessment_legacy import source_name, upgrade
from textmix.core.calibrators import calibrator_names
from textmix.core.errors import RecipeError, RunDirError, TextmixError
from textmix.core.methods import get_method
from textmix.engine.recipe import recipe_differences
from textmix.engine.report.checks import checked_metrics, say_missing_blocks
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import get_task

logger = logging.getLogger(__name__)


@dataclass
class Group:
    """Runs of one setting, one per (seed, split seed)."""

    dataset: str
    model: str
    method: str
    alpha: float | None
    setting: str
    runs: list[RunDir] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)  # each run's metrics.json in the current layout
    assessments: list[Assessment] = field(default_factory=list)
    recipes: list[dict] = field(default_factory=list)

    def values(self, key: str, split: str = "test") -> np.ndarray:
        """One uncalibrated value per seed (NaN where a run lacks the metric, e.g. runs of older textmix)."""
        return np.array([m[split].get(key, np.nan) for m in self.metrics])

    def calibrated_values(self, calibrator: str, key: str) -> np.ndarray:
        """One test value per seed after ``calibrator`` ("none": uncalibrated), NaN where a run did
        not fit it."""
        return np.array([_block_metrics(a, calibrator).get(key, np.nan) for a in self.assessments])

    def chosen_values(self, key: str) -> np.ndarray:
        """One test value per seed after the calibrator each run chose (NaN for a run without one)."""
        return np.array([_block_metrics(a, a.chosen).get(key, np.nan) for a in self.assessments])

    def within_floor(self, key: str, source: str | None = NONE) -> bool:
        """Whether the mean of ``key`` over runs (uncalibrated, or after ``source``) is at or below the
        mean 95th percentile of its noise floor (False where a run has no floor)."""
        blocks = [a.block(source) if source else None for a in self.assessments]
        floors = [b.floor.get(key) if b else None for b in blocks]
        if not floors or not all(floors):
            return False
        return bool(np.mean([b.metrics[key] for b in blocks]) <= np.mean([f["p95"] for f in floors]))

    def calibrators(self) -> list[str]:
        """The calibrators every run of the group fitted ("none" first, then in registry order)."""
        registered = calibrator_names()
        fitted = sorted(self.assessments[0].test.blocks, key=lambda n: registered.index(n) if n in registered else 99)
        return [n for n in (NONE, *(n for n in fitted if n != NONE)) if all(a.block(n) for a in self.assessments)]

    @property
    def role(self) -> str | None:
        """The method's ``report_role``: "reference" (the baseline), "mixup" or None."""
        return get_method(self.method).report_role

    @property
    def repetitions(self) -> list[tuple[int, int]]:
        """Each run's (training seed, split seed): what comparisons pair on (two settings trained
        with the same seed on the same carved split)."""
        return [repetition(r) for r in self.recipes]

    @property
    def split_seeds(self) -> list[int]:
        return sorted({split for _, split in self.repetitions})

    def pooled_predictions(self) -> tuple[np.ndarray, np.ndarray]:
        loaded = [np.load(run.file(RunDir.PREDICTIONS)) for run in self.runs]
        return np.concatenate([p["test_probs"] for p in loaded]), np.concatenate([p["test_labels"] for p in loaded])


def repetition(recipe: dict) -> tuple[int, int]:
    """(train.seed, data.split_seed) of a recipe (split seed 0 where the task has none)."""
    return int(recipe["train"]["seed"]), int(recipe.get("data", {}).get("split_seed", 0))


def _block_metrics(assessment: Assessment, source: str | None) -> dict:
    """Test metrics after ``source`` ({} when it was not fitted)."""
    block = assessment.block(source) if source else None
    return block.metrics if block else {}


def describe(recipe: dict, method: str) -> tuple[float | None, str]:
    """(α or None, a short label of the method setting: its name, α for methods that mix, its
    settings by their symbols); the mix point is named when it is not the task's default."""
    cls = get_method(method)
    settings = "".join(
        f" {p.symbol}={label(recipe['loss'].get(key, p.default), p.named)}" for key, p in cls.params.items() if p.symbol
    )
    if cls.mixing is None:
        return None, f"{method}{settings}"
    alpha = float(recipe["mixup"]["alpha"])
    extra = ", per-sample λ" if recipe["mixup"]["per_sample"] else ""
    point = recipe["mixup"]["mix_point"]
    where = "" if point == get_task(recipe.get("task", "text")).default_mix_point else f", at {point}"
    return alpha, f"{method} α={alpha:g}{settings}{extra}{where}"


def label(value, named: dict) -> str:
    """A setting's value in a report label: its name where the method gives one, else the number."""
    return named.get(value, f"{value:g}")


def expand_run_dirs(paths: list[Path]) -> list[RunDir]:
    """Run directories as given, with a sweep folder (``textmix sweep --out``) replaced by its runs.

    Raises RunDirError for a path that is neither a finished run nor a sweep folder whose runs
    have all finished (a report over a half-finished sweep would silently drop seeds).
    """
    runs = []
    for path in paths:
        if RunDir(path).finished:
            runs.append(RunDir(path))
            continue
        children = [RunDir(c) for c in sorted(path.iterdir()) if RunDir(c).has_recipe] if path.is_dir() else []
        unfinished = [c.path.name for c in children if not c.finished]
        if not children:
            raise RunDirError(f"{path} is neither a finished run (no {RunDir.METRICS}) nor a sweep folder of runs")
        if unfinished:
            raise RunDirError(
                f"sweep folder {path} has unfinished runs {unfinished}; run the sweep again to finish them"
            )
        runs.extend(children)
    return runs


# Recipe keys that may differ between the repetitions of one setting: what is repeated (the seed)
# and what does not change the result (where, how often and to which trackers it logs); tasks add
# their own (Task.repetition_keys: split seeds, CV folds, sharing settings; unread_keys: model keys
# the run's model does not read, whose defaults may differ between textmix versions).
REPETITION_KEYS = ("train.seed", "train.output_dir", "train.log_every", "train.log_with")


def collect(run_dirs: list[Path]) -> list[Group]:
    """Runs grouped by dataset, model and method setting.

    Raises RecipeError when two runs of one group differ in more than their repetition keys (say
    12 and 45 epochs): averaging them as seeds would silently mix two experiments.
    """
    groups: dict[tuple, Group] = {}
    seen: set[Path] = set()
    for run in expand_run_dirs(run_dirs):
        where = run.path.resolve()
        if where in seen:  # the same folder named twice (or once with a trailing slash): one run
            logger.warning("%s is given more than once; it counts once", run)
            continue
        seen.add(where)
        metrics, recipe = checked_metrics(run), run.read_recipe()
        try:
            alpha, setting = describe(recipe, metrics["method"])
            task = get_task(recipe.get("task", "text"))
            # the dataset as reports name it: the task's label (a custom file's name), else data.name
            dataset = getattr(task, "dataset_label", lambda data: data["name"])(recipe["data"])
            key = (dataset, recipe["model"]["name"], setting)
        except (TextmixError, KeyError, TypeError, ValueError) as error:
            raise RunDirError(f"{run.metrics} and {run.recipe} do not describe a setting textmix knows "
                              f"({type(error).__name__}: {error}); fix or retrain the run") from None  # fmt: skip
        group = groups.setdefault(key, Group(key[0], key[1], metrics["method"], alpha, setting))
        unread = getattr(task, "unread_keys", lambda _: [])(recipe["model"]["name"])
        ignore = (*REPETITION_KEYS, *task.repetition_keys, *unread)
        differences = recipe_differences(group.recipes[0], recipe, ignore=ignore) if group.recipes else []
        if differences:
            raise RecipeError(
                f"runs {group.runs[0]} and {run} are both '{setting}' on {key[0]} / {key[1]} but their recipes "
                f"differ in {', '.join(differences)}; they are not seeds of one experiment: report them separately"
            )
        twin = next((r for r, rec in zip(group.runs, group.recipes) if repetition(rec) == repetition(recipe)), None)
        if twin is not None:
            seed, split = repetition(recipe)
            raise RecipeError(
                f"runs {twin} and {run} are the same setting, seed {seed} and split seed {split} (a copy?): a "
                "repetition counts once; report one of them"
            )
        group.runs.append(run)
        group.metrics.append(upgrade(metrics))
        group.assessments.append(Assessment.from_json(metrics))
        group.recipes.append(recipe)
    for group in groups.values():
        say_missing_blocks(group.runs, group.metrics, group.setting)
    return sorted(groups.values(), key=lambda g: (g.dataset, g.model, g.role != "reference", g.setting))


def group_by(groups: list[Group], key) -> dict[tuple, list[Group]]:
    out = defaultdict(list)
    for g in groups:
        out[key(g)].append(g)
    return out


def pooled_scores(group: Group) -> dict[str, np.ndarray]:
    """Winning scores of all seeds pooled: {"<set>/<source>": (N · seeds,)} (sources by their
    current names in runs of any textmix version)."""
    pooled = defaultdict(list)
    for run in group.runs:
        with np.load(run.scores) as scores:
            for key in scores:
                set_name, source = key.rsplit("/", 1)
                pooled[f"{set_name}/{source_name(source)}"].append(scores[key])
    return {key: np.concatenate(v) for key, v in pooled.items()}


def has_file(group: Group, name: str) -> bool:
    return all(run.file(name).is_file() for run in group.runs)
