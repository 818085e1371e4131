"""``textmix sweep RECIPE --grid key=v1,v2 --seeds 1,2,3``: a grid of runs, restartable.

Each grid point × seed is one run directory under ``--out``; a finished run is skipped, an
interrupted one is resumed, so re-running the same command after a crash finishes the sweep.
Runs execute one after another in this process (or in every process of an ``accelerate
launch``), or with ``--jobs N`` N at a time, each in its own ``textmix train`` process.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import torch
from accelerate import PartialState

from textmix.core.errors import EXIT_INTERRUPTED, ArgumentError, RecipeError, RunDirError, TrainingInterrupted
from textmix.engine.launchers import (
    LAUNCHERS,
    ClusterOptions,
    GpuPool,
    PlannedRun,
    require,
    run_on_ray,
    run_on_slurm,
    train_in_subprocess,
    visible_gpus,
)
from textmix.engine.recipe import load_recipe
from textmix.engine.recipe_yaml import parse_yaml
from textmix.engine.run_directory import RunDir
from textmix.engine.training import recipe_changes, train


def parse_grid(assignments: list[str]) -> dict[str, list]:
    """``["mixup.alpha=0.1,0.2", "method=baseline,mixup"]`` → {key: [values]} (values as YAML)."""
    grid = {}
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        if not sep or not key or not values:
            raise RecipeError(f"--grid expects key=v1,v2,..., got {assignment!r}")
        if key in grid:
            raise RecipeError(f"--grid names {key!r} twice")
        if not all(v.strip() for v in values.split(",")):
            raise RecipeError(f"--grid {assignment!r} has an empty value: give key=v1,v2,...")
        grid[key] = [parse_yaml(v, f"--grid {assignment!r}") for v in values.split(",")]
    return grid


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise RecipeError(f"{option} expects integers like 1,2,3, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise RecipeError(f"{option} needs distinct integers, got {text!r}")
    return seeds


SPLIT_KEY = "data.split_seed"
MAX_RUNS = 10_000  # every run's recipe is validated when planned (milliseconds each)


def with_split_seeds(grid: dict[str, list], text: str | None) -> dict[str, list]:
    """The grid with ``--split-seeds`` as its ``data.split_seed`` axis: each run is trained on the
    split its split seed carves, and ``textmix report`` pairs runs by (seed, split seed)."""
    if not text:
        return grid
    if SPLIT_KEY in grid:
        raise RecipeError(f"--split-seeds and --grid {SPLIT_KEY}=... set the same key; give one of them")
    return {**grid, SPLIT_KEY: parse_seeds(text, "--split-seeds")}


def run_name(point: dict, seed: int) -> str:
    parts = [f"{key.split('.')[-1]}={value}" for key, value in point.items()] + [f"seed={seed}"]
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", "_".join(parts))


def plan_sweep(
    recipe_path: str | Path, grid: dict[str, list], seeds: list[int], overrides: list[str], out: Path
) -> list[PlannedRun]:
    """Every grid point and seed; every recipe is validated first, before any training: two points
    that would share a run directory, or a run directory started with another recipe (a sweep folder
    reused), are refused whatever the launcher and job count."""
    size = math.prod(len(values) for values in grid.values()) * len(seeds)
    if size > MAX_RUNS:
        raise RecipeError(f"the sweep has {size:,} runs (grid points × seeds); textmix sweep plans up to {MAX_RUNS:,}: "
                          "split it into several sweeps (several --out folders)")  # fmt: skip
    runs, points = [], {}
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        for seed in seeds:
            name = run_name(point, seed)
            if name in points:
                raise RecipeError(f"--grid points {points[name]} and {point} (seed {seed}) would share the run "
                                  f"directory {name}: give values whose folder names differ")  # fmt: skip
            points[name] = point
            sets = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in point.items()), f"train.seed={seed}"]
            recipe = load_recipe(recipe_path, sets)  # fails before any training if one point is invalid
            run = RunDir(out / name)
            if run.recipe.is_file() and (changes := recipe_changes(run, recipe)):
                raise RunDirError(f"{run} was trained with another recipe (it differs in {', '.join(changes)}); "
                                  "this sweep would mix its runs with that one's: use another --out")  # fmt: skip
            runs.append(PlannedRun(run.path, recipe, sets))
    return runs


def sweep(
    recipe_path: str | Path,
    grid: dict[str, list],
    seeds: list[int],
    overrides: list[str],
    out: Path,
    dry_run: bool = False,
    jobs: int = 1,
    launcher: str = "local",
    cluster: ClusterOptions | None = None,
) -> list[dict]:
    """Train every run of the grid that is not finished yet; return one status row per run.

    Args:
        dry_run: validate every recipe and print what each run would do and where, without training.
        jobs: runs at a time (> 1: separate processes, each with 1/jobs of the CPU threads and, on
            a machine with GPUs, pinned to the least busy one: round-robin, shared when jobs > GPUs).
        launcher: ``local`` (this machine), ``ray`` (tasks of a Ray cluster) or ``slurm`` (submitit
            jobs); see :mod:`textmix.engine.launchers`.
        cluster: the ray / slurm resources and options.
    """
    if launcher not in LAUNCHERS:
        raise ArgumentError(f"--launcher {launcher!r} is unknown: use {', '.join(LAUNCHERS)}")
    if launcher != "local":
        require(launcher)  # one line naming the extra, before anything is planned
    cluster = cluster or ClusterOptions()
    if ignored := cluster.ignored_by(launcher):
        raise ArgumentError(f"--launcher {launcher} does not read {', '.join(ignored)}: drop them, or choose the "
                            "launcher they belong to (see textmix sweep --help)")  # fmt: skip
    if launcher == "slurm" and cluster.slurm_cluster == "slurm" and shutil.which("sbatch") is None:
        # submitit would fall back to local processes here (a login node), saying "on slurm"
        raise ArgumentError("--launcher slurm: no Slurm scheduler is reachable from here (no sbatch on PATH), so "
                            "nothing was trained; run it where sbatch works, or try the jobs on this machine with "
                            "--slurm-cluster local")  # fmt: skip
    runs = plan_sweep(recipe_path, grid, seeds, overrides, out)
    if jobs < 1:
        raise ArgumentError(f"--jobs must be >= 1, got {jobs}")
    if dry_run:
        return _dry_run(runs, jobs, launcher, cluster)
    if jobs > 1 or launcher != "local":
        return _parallel(recipe_path, runs, jobs, launcher, cluster, out)
    rows = []
    for planned in runs:
        run_dir, recipe = planned.run_dir, planned.recipe
        run = RunDir(run_dir)
        status = "skipped (finished)" if run.finished else "resumed" if run.started else "trained"
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


def _dry_run(runs: list[PlannedRun], jobs: int, launcher: str, cluster: ClusterOptions) -> list[dict]:
    """What each run would do and where: this process (``--jobs 1``), or its own process with its
    share of the CPU threads and, on a machine with GPUs, the GPU of the first wave's round-robin
    (later runs take the GPU that frees first). Every recipe was validated when planned."""
    gpus, threads = visible_gpus(), max(1, torch.get_num_threads() // jobs)
    pending = [p for p in runs if not RunDir(p.run_dir).finished]
    rows = []
    for planned in runs:
        run = RunDir(planned.run_dir)
        status = "skipped (finished)" if run.finished else "resumed" if run.started else "trained"
        where = "-"
        if not run.finished and launcher != "local":
            where = _placement_note(launcher, jobs, cluster)
        elif not run.finished:
            slot = pending.index(planned)
            where = "this process" if jobs == 1 else f"local process, {threads} thread(s)"
            if gpus and jobs > 1:
                where += f", GPU {gpus[slot % len(gpus)]}" + (" (first wave)" if slot < jobs else "")
        rows.append({"run": str(planned.run_dir), "status": f"would be {status}", "where": where})
        print(f"{rows[-1]['status']:30s} {planned.run_dir}  [{where}]")
    return rows


def _parallel(recipe_path, runs: list[PlannedRun], jobs: int, launcher: str, cluster: ClusterOptions, out: Path):
    """Run the unfinished runs in processes of their own (``jobs`` at a time here, or as tasks of a
    Ray cluster or Slurm jobs); failures are reported together at the end."""
    started = {p.run_dir: RunDir(p.run_dir).started for p in runs}
    pending = [p for p in runs if not RunDir(p.run_dir).finished]
    print(f"{len(runs) - len(pending)} of {len(runs)} runs finished earlier; {len(pending)} to train, "
          f"{_placement_note(launcher, jobs, cluster)}")  # fmt: skip
    if launcher == "ray":
        results = run_on_ray(recipe_path, pending, cluster)
    elif launcher == "slurm":
        results = run_on_slurm(recipe_path, pending, cluster, out / ".submitit")
    else:
        results = _run_locally(recipe_path, pending, jobs, started)
    failed = []
    for planned, status, last_error in results:
        if status == 0:
            print(f"{'resumed' if started[planned.run_dir] else 'trained':20s} {planned.run_dir}")
        else:
            failed.append((planned.run_dir.name, status, last_error))
            print(f"{'failed':20s} {planned.run_dir}  ({last_error})")
    if any(status == EXIT_INTERRUPTED for _, status, _ in failed):
        raise TrainingInterrupted("the sweep was interrupted; its runs saved their state")
    if failed:
        raise RunDirError(
            f"{len(failed)} of {len(pending)} runs failed: " + "; ".join(f"{n} ({e})" for n, _, e in failed)
        )
    rows = []
    for planned in runs:
        metrics = RunDir(planned.run_dir).read_metrics()
        status = (
            "skipped (finished)" if planned not in pending else "resumed" if started[planned.run_dir] else "trained"
        )
        test = metrics["test"]
        rows.append(
            {"run": str(planned.run_dir), "status": status, "test_accuracy": test["accuracy"], "test_ece": test["ece"]}
        )
    return rows


def _placement_note(launcher: str, jobs: int, cluster: ClusterOptions) -> str:
    if launcher == "local":
        gpus = visible_gpus()
        gpu_note = f", on GPUs {','.join(gpus)}" if gpus else ""
        return f"{jobs} at a time, {max(1, torch.get_num_threads() // jobs)} thread(s) each{gpu_note}"
    where = "slurm" if cluster.slurm_cluster == "slurm" else "submitit's local executor"
    where = (cluster.address or "a local Ray cluster") if launcher == "ray" else where
    return f"on {where}, {cluster.cpus_per_run} CPU(s) and {cluster.gpus_per_run} GPU(s) per run"


def _run_locally(recipe_path, pending: list[PlannedRun], jobs: int, started: dict) -> list[tuple]:
    threads = max(1, torch.get_num_threads() // jobs)
    gpus = GpuPool(visible_gpus())
    with ThreadPoolExecutor(jobs) as pool:
        futures = {
            pool.submit(train_in_subprocess, recipe_path, p, threads, started[p.run_dir], gpus): p for p in pending
        }
        return [(futures[f], *f.result()) for f in as_completed(futures)]
