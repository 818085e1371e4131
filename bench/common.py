"""Helpers shared by the bench scripts: machine description, result files, recipe-built tasks."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def spread(values: list[float]) -> dict:
    """Median, min, max and interquartile range of repeated measurements."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "q1": q[0], "q3": q[2]}


def write_result(name: str, result: dict) -> Path:
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def thread_limit(threads: int):
    """A context in which torch and every BLAS / OpenMP pool use ``threads`` threads (threadpoolctl),
    so that textmix and a reference library run under the same limit."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    return threadpool_limits(threads)


def timed(fn):
    """(seconds, value) of one call of ``fn``."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main_job_run(run: str, folder: str) -> Path:
    """``run`` when it holds a model; else the main job's recipe trained for one epoch into
    ``folder``/run (the same vocabulary and model size as the main job's model)."""
    import subprocess
    import sys

    if (Path(run) / "model").is_dir():
        return Path(run)
    trained = Path(folder) / "run"
    train = [sys.executable, "-m", "textmix", "train", "recipes/mr/kim_cnn_mixup.yaml", "--output-dir", str(trained),
             "--set", "train.epochs=1", "--set", "eval.bootstrap_resamples=0"]  # fmt: skip
    subprocess.run(train, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return trained
