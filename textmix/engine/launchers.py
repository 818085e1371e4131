"""Where a sweep's runs execute when one machine is not enough: a Ray cluster or Slurm (through
submitit). Each run is a task or job that runs ``textmix train`` in its own process; since a run
resumes from its last checkpoint, a retried task (Ray, after its worker died) or a requeued job
(Slurm, after a preemption) simply continues it, and the sweep's numbers are those of a local one.

Run directories must live on a path every node sees (a shared file system): the task that resumes
a run may start on another node. Ray and submitit are optional extras, imported only here:
``pip install "textmix[ray]"`` / ``"textmix[slurm]"``.

submitit hands the job function to its jobs as a pickle in its own folder (``<out>/.submitit``,
written by this sweep and read by its jobs, never by a run directory's reader); textmix keeps run
directories free of pickles.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from textmix.core.errors import ArgumentError
from textmix.engine.run_directory import RunDir

LAUNCHERS = ("local", "ray", "slurm")
EXTRAS = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}  # launcher → (module, pip extra)
LOCK_WAIT_S = 300  # how long a retried run waits for its previous attempt to save and let go


@dataclass
class ClusterOptions:
    """Args:
    address: ray: a running cluster's address (``ray://host:10001`` or ``auto``); None starts a local one.
    cpus_per_run: CPUs (and torch threads) each run gets.
    gpus_per_run: GPUs each run gets (ray and slurm pin them through ``CUDA_VISIBLE_DEVICES``).
    max_retries: ray: times a run whose worker died is started again (it resumes).
    partition: slurm partition.
    time_min: slurm time limit of each job, minutes.
    slurm_options: further submitit ``update_parameters`` keywords (``slurm_*``), e.g. from a YAML file.
    slurm_cluster: ``slurm``, or ``local`` to run the jobs as local processes through submitit
        (the cluster's code path without Slurm: for tests and debugging).
    """

    address: str | None = None
    cpus_per_run: int = 1
    gpus_per_run: int = 0
    max_retries: int = 3
    partition: str | None = None
    time_min: int = 60
    slurm_options: dict = field(default_factory=dict)
    slurm_cluster: str = "slurm"


def require(launcher: str):
    """The launcher's module, or one line naming the extra to install."""
    module, extra = EXTRAS[launcher]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ArgumentError(f'--launcher {launcher} needs {module}: pip install "textmix[{extra}]"') from None


def train_run(recipe_path: str, run_dir: str, overrides: list[str], threads: int) -> tuple[int, str]:
    """One run as a cluster task: wait until an earlier attempt let go of the run, then train it,
    resuming what that attempt saved; (exit status, last error line)."""
    from textmix.engine.sweep import PlannedRun, _train_process

    run = RunDir(run_dir)
    deadline = time.monotonic() + LOCK_WAIT_S
    while run.holder() is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    if run.finished:
        return 0, ""
    planned = PlannedRun(Path(run_dir), None, list(overrides))
    return _train_process(recipe_path, planned, threads, run.started, None)


def run_on_ray(recipe_path, pending: list, options: ClusterOptions) -> list[tuple[object, int, str]]:
    """Every pending run as a Ray task; (planned run, status, last error) each."""
    ray = require("ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run,
                          max_retries=options.max_retries)(train_run)  # fmt: skip
        refs = {task.remote(str(recipe_path), str(p.run_dir), p.overrides, options.cpus_per_run): p for p in pending}
        results = []
        for ref, planned in refs.items():
            try:
                status, error = ray.get(ref)
            except ray.exceptions.RayError as failure:  # retries exhausted
                status, error = 1, f"ray: {type(failure).__name__}"
            results.append((planned, status, error))
        return results
    finally:
        if started_here:
            ray.shutdown()


class SlurmRun:
    """A submitit job that trains one run and, when preempted or timed out, is requeued as itself
    (its next attempt resumes the run)."""

    def __init__(self, recipe_path: str, run_dir: str, overrides: list[str], threads: int):
        self.args = (recipe_path, run_dir, overrides, threads)

    def __call__(self) -> tuple[int, str]:
        return train_run(*self.args)

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(self)


def run_on_slurm(recipe_path, pending: list, options: ClusterOptions, folder: Path) -> list[tuple[object, int, str]]:
    """Every pending run as a submitit job (Slurm, or local processes with ``slurm_cluster: local``)."""
    submitit = require("slurm")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=None if options.slurm_cluster == "slurm" else "local")
    parameters = {"timeout_min": options.time_min, "cpus_per_task": options.cpus_per_run}
    if options.gpus_per_run:
        parameters["gpus_per_node"] = options.gpus_per_run
    if options.partition:
        parameters["slurm_partition"] = options.partition
    executor.update_parameters(**parameters, **options.slurm_options)
    jobs = [
        (p, executor.submit(SlurmRun(str(recipe_path), str(p.run_dir), p.overrides, options.cpus_per_run)))
        for p in pending
    ]
    results = []
    for planned, job in jobs:
        try:
            status, error = job.result()
        except Exception as failure:  # noqa: BLE001 - the job failed or was cancelled: report it with the others
            status, error = 1, f"slurm job {job.job_id}: {str(failure).strip().splitlines()[-1][:200]}"
        results.append((planned, status, error))
    return results
