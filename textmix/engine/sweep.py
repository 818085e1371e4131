"""``textmix sweep RECIPE --grid key=v1,v2 --seeds 1,2,3``: a grid of runs, restartable.

Each grid point × seed is one run directory under ``--out``; a finished run is skipped, an
interrupted one is resumed, so re-running the same command after a
crash finishes the sweep. Runs execute one after another in this process (or in every process of
an ``accelerate launch``).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import yaml
from accelerate import PartialState

from textmix.engine.recipe import load_recipe
from textmix.engine.run import train
from textmix.engine.rundir import RunDir
from textmix.errors import RecipeError


def parse_grid(assignments: list[str]) -> dict[str, list]:
    """``["mixup.alpha=0.1,0.2", "method=baseline,mixup"]`` → {key: [values]} (values as YAML)."""
    grid = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        if not sep or not key or not values:
            raise RecipeError(f"--grid expects key=v1,v2,..., got {assignment!r}")
        if key in grid:
            raise RecipeError(f"--grid names {key!r} twice")
        grid[key] = [yaml.safe_load(v) for v in values.split(",")]
    return grid


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise RecipeError(f"--seeds expects integers like 1,2,3, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise RecipeError(f"--seeds needs distinct integers, got {text!r}")
    return seeds


def run_name(point: dict, seed: int) -> str:
    parts = [f"{key.split('.')[-1]}={value}" for key, value in point.items()] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", "_".join(parts))


def plan_sweep(recipe_path: str | Path, grid: dict[str, list], seeds: list[int], overrides: list[str], out: Path):
    """(run directory, overrides) for every grid point and seed; every recipe is validated first."""
    runs = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        for seed in seeds:
            sets = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in point.items()), f"train.seed={seed}"]
            recipe = load_recipe(recipe_path, sets)  # fails before any training if one point is invalid
            runs.append((out / run_name(point, seed), recipe))
    return runs


def sweep(
    recipe_path: str | Path,
    grid: dict[str, list],
    seeds: list[int],
    overrides: list[str],
    out: Path,
    dry_run: bool = False,
) -> list[dict]:
    """Train every run of the grid that is not finished yet; return one status row per run.

    Args:
        dry_run: validate every recipe and print what each run would do, without training.
    """
    runs = plan_sweep(recipe_path, grid, seeds, overrides, out)
    rows = []
    for run_dir, recipe in runs:
        run = RunDir(run_dir)
        status = "skipped (finished)" if run.finished else "resumed" if run.started else "trained"
        if dry_run:  # every recipe was validated (names included) when planned
            rows.append({"run": str(run_dir), "status": f"would be {status}"})
            print(f"{rows[-1]['status']:30s} {run_dir}")
            continue
        metrics = train(recipe, run_dir, resume=run.started)  # skips a finished run, continues a started one
        rows.append(
            {
                "run": str(run_dir),
                "status": status,
                "test_accuracy": metrics["test"]["accuracy"],
                "test_ece": metrics["test"]["ece"],
            }
        )
        if PartialState().is_main_process:
            print(f"{status:20s} {run_dir}  acc {metrics['test']['accuracy']:.4f}  ECE {metrics['test']['ece']:.4f}")
    return rows
