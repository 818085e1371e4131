"""Where a sweep's runs execute: processes of this machine (each pinned to the least busy GPU when
there are any, dying with the sweep), the tasks of a Ray cluster, or Slurm jobs (through
submitit). Each run is a ``textmix train`` process of its own; since a run
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

import ctypes
import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

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

    address: str | None = field(default=None, metadata={"option": "--address", "launchers": ("ray",)})
    cpus_per_run: int = field(default=1, metadata={"option": "--cpus-per-run", "launchers": ("ray", "slurm")})
    gpus_per_run: int = field(default=0, metadata={"option": "--gpus-per-run", "launchers": ("ray", "slurm")})
    max_retries: int = field(default=3, metadata={"option": "--max-retries", "launchers": ("ray",)})
    partition: str | None = field(default=None, metadata={"option": "--partition", "launchers": ("slurm",)})
    time_min: int = field(default=60, metadata={"option": "--time", "launchers": ("slurm",)})
    slurm_options: dict = field(default_factory=dict, metadata={"option": "--slurm-config", "launchers": ("slurm",)})
    slurm_cluster: str = field(default="slurm", metadata={"option": "--slurm-cluster", "launchers": ("slurm",)})

    def ignored_by(self, launcher: str) -> list[str]:
        """The options given (not at their defaults) that ``launcher`` does not read."""
        defaults = ClusterOptions()
        return [
            f"{f.metadata['option']} {getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if launcher not in f.metadata["launchers"] and getattr(self, f.name) != getattr(defaults, f.name)
        ]


@dataclass
class PlannedRun:
    """One grid point × seed: its run directory, validated recipe and the ``--set`` overrides."""

    run_dir: Path
    recipe: object
    overrides: list[str]


PARENT_ENV = "TEXTMIX_SWEEP_PARENT"  # the pid of the sweep that started this training process
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a ``sweep --jobs`` child: get SIGTERM when the sweep dies, even by ``kill -9`` (Linux's
    parent-death signal), so that the run checkpoints and stops instead of training on as an
    orphan; running the sweep again resumes it."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the sweep died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def visible_gpus() -> list[str]:
    """The GPUs this sweep's runs may use: the entries of ``CUDA_VISIBLE_DEVICES`` when it is set
    (empty: none), else every GPU torch sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


class GpuPool:
    """Hands each starting run the GPU with the fewest running runs (the first such, so the first
    wave goes round-robin); several runs share a GPU when there are more jobs than GPUs."""

    def __init__(self, gpus: list[str]):
        self.running = dict.fromkeys(gpus, 0)
        self.lock = threading.Lock()

    def acquire(self) -> str | None:
        if not self.running:
            return None
        with self.lock:
            gpu = min(self.running, key=self.running.get)
            self.running[gpu] += 1
            return gpu

    def release(self, gpu: str | None) -> None:
        if gpu is not None:
            with self.lock:
                self.running[gpu] -= 1


def train_in_subprocess(recipe_path, planned: PlannedRun, threads: int, resume: bool, gpus: GpuPool) -> tuple[int, str]:
    """``textmix train`` for one planned run in its own process, pinned to one GPU when there are
    any; (exit status, its last error line)."""
    gpu = gpus.acquire()
    try:
        return _train_process(recipe_path, planned, threads, resume, gpu)
    finally:
        gpus.release(gpu)


def _train_process(recipe_path, planned: PlannedRun, threads: int, resume: bool, gpu: str | None) -> tuple[int, str]:
    command = [sys.executable, "-m", "textmix.cli", "train", str(recipe_path), "--output-dir", str(planned.run_dir)]
    command += [arg for s in planned.overrides for arg in ("--set", s)] + (["--resume"] if resume else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), PARENT_ENV: str(os.getpid())}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    log = planned.run_dir.parent / ".logs" / f"{planned.run_dir.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode
    errors = [line for line in log.read_text().splitlines() if line.startswith("textmix: error:")]
    return status, errors[-1] if errors else f"see {log}"


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
