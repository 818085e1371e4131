"""Sweeps beyond one machine's processes: Ray tasks and submitit jobs. Each test kills or preempts a
run mid-training and checks that the sweep still finishes with the numbers of a local sweep of the
same grid (the runs resume from their checkpoints). The extras are optional: the tests are skipped,
with a reason, where they are not installed (CI installs them)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from toy_task import TOY, plugin_env

from textmix.core.errors import ArgumentError
from textmix.engine import RunDir
from textmix.engine.sweep import sweep

PLUGIN_DIR = Path(__file__).resolve().parents[2] / ".pytest_cache" / "toy_plugin_launchers"
GRID = ["--grid", "mixup.alpha=0.2,1.0", "--seeds", "1,2"]


def untimed(run: RunDir) -> dict:
    return {k: v for k, v in run.read_metrics().items() if k != "timing"}


def toy_sweep(tmp_path: Path, out: str, *extra, interrupt=None):
    """``textmix sweep`` of 4 toy runs in a subprocess that finds the toy task; ``interrupt(pid)`` is
    called, once, with the pid of the process that launched the first run seen mid-training."""
    recipe = tmp_path / "toy.yaml"
    if not recipe.exists():
        values = json.loads(json.dumps(TOY))
        values["data"] = {"n_train": 20000}
        values["train"]["epochs"] = 3
        recipe.write_text(yaml.safe_dump(values))
    command = [sys.executable, "-m", "textmix.cli", "sweep", str(recipe), *GRID, "--out", str(tmp_path / out), *extra]
    # two threads for the sweep process: --jobs 2 gives each run one, as --cpus-per-run 1 on the
    # clusters, on any machine (torch's sums depend on the thread count)
    env = {**plugin_env(PLUGIN_DIR), "OMP_NUM_THREADS": "2"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    interrupted = []
    if interrupt is not None:
        threading.Thread(target=_interrupt_one, args=(tmp_path / out, interrupt, interrupted), daemon=True).start()
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-4000:]
    runs = [RunDir(p) for p in sorted((tmp_path / out).iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return runs, interrupted


def _interrupt_one(out: Path, interrupt, interrupted: list) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        for folder in sorted(out.glob("alpha=*")):
            run = RunDir(folder)
            holder = run.holder()
            if holder and run.latest_checkpoint() is not None and not run.finished:
                pid = int(holder.split()[1])  # "pid N on host (...)": the textmix train process
                launcher_pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                interrupt(launcher_pid)
                interrupted.append(folder.name)
                return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    if not any(importlib.util.find_spec(module) for module in ("ray", "submitit")):
        pytest.skip('neither cluster extra is installed: pip install "textmix[ray,slurm]"')
    folder = tmp_path_factory.mktemp("local")
    runs, _ = toy_sweep(folder, "sweep", "--jobs", "2")
    return {run.path.name: untimed(run) for run in runs}


@pytest.mark.cluster
def test_a_ray_sweep_survives_a_killed_worker_with_the_local_numbers(tmp_path, local_reference):
    pytest.importorskip("ray", reason='the ray extra is not installed: pip install "textmix[ray]"')
    runs, killed = toy_sweep(tmp_path, "sweep", "--launcher", "ray", "--cpus-per-run", "1",
                             interrupt=lambda pid: os.kill(pid, signal.SIGKILL))  # fmt: skip
    assert killed, "no run was caught mid-training"
    assert {run.path.name: untimed(run) for run in runs} == local_reference


@pytest.mark.cluster
def test_a_submitit_sweep_is_requeued_after_a_preemption_with_the_local_numbers(tmp_path, local_reference):
    pytest.importorskip("submitit", reason='the slurm extra is not installed: pip install "textmix[slurm]"')
    runs, preempted = toy_sweep(tmp_path, "sweep", "--launcher", "slurm", "--slurm-cluster", "local",
                                interrupt=lambda pid: os.kill(pid, signal.SIGUSR2))  # fmt: skip
    assert preempted, "no run was caught mid-training"
    assert {run.path.name: untimed(run) for run in runs} == local_reference
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / ".submitit").glob("*_log.out"))
    assert "Requeued job" in logs or "requeue" in logs.lower()


def test_a_launcher_whose_extra_is_missing_is_one_line(tmp_path, monkeypatch):
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    for launcher, module, extra in (("ray", "ray", "ray"), ("slurm", "submitit", "slurm")):
        monkeypatch.setitem(sys.modules, module, None)  # import fails, as without the extra
        with pytest.raises(
            ArgumentError, match=rf'--launcher {launcher} needs {module}: pip install "textmix\[{extra}\]"'
        ):
            sweep(recipe, {}, [1], [], tmp_path / "out", launcher=launcher)
    assert not (tmp_path / "out").exists()


def test_slurm_without_a_scheduler_is_refused_and_trains_nothing(tmp_path, monkeypatch):
    """submitit's AutoExecutor falls back to local processes where no Slurm exists (a login node):
    textmix refuses instead, naming how to try the jobs locally; --slurm-cluster local still works."""
    import textmix.engine.sweep as sweep_module

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    monkeypatch.setattr(sweep_module, "require", lambda launcher: None)  # as if submitit were installed
    monkeypatch.setattr(sweep_module.shutil, "which", lambda name: None)  # no sbatch on PATH
    with pytest.raises(ArgumentError, match="no Slurm scheduler is reachable from here .* --slurm-cluster local"):
        sweep(recipe, {}, [1], [], tmp_path / "out", launcher="slurm")
    assert not (tmp_path / "out").exists()
