"""A refactor changes no number: train the same recipes with a reference revision and with the
working tree, on this machine and seed, and compare ``metrics.json`` byte for byte (timing aside).

    python bench/same_numbers.py --base f70df5f --out runs/same_numbers          # both sides, compare
    python bench/same_numbers.py --base f70df5f --out runs/same_numbers --side base   # one side only

The reference revision is checked out with ``git worktree`` and imported through ``PYTHONPATH``
(same virtualenv, same dependencies); the working tree runs as installed. Jobs: the README main
job (MR Kim CNN mixup, full recipe), a short MR run that exercises OOD sets and MC dropout, and a
short CIFAR-10 vision run with OOD and the perturbation study. Exit status 1 when any differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name → (recipe, overrides)
JOBS = {
    "mr_main": ("recipes/mr/kim_cnn_mixup.yaml", []),
    "mr_ood": (
        "recipes/mr/kim_cnn_mixup.yaml",
        [
            "train.epochs=2",
            "data.max_train_examples=1000",
            "eval.mc_dropout_samples=3",
            "eval.ood=[trec, random_tokens, gaussian_noise]",
        ],
    ),
    "cifar10_small": (
        "recipes/vision/cifar10_small_mixup.yaml",
        [
            "train.epochs=2",
            "data.max_train_examples=2000",
            "optim.milestones=[1]",
            "eval.mc_dropout_samples=2",
            "eval.ood=[mnist, gaussian_noise]",
            "eval.perturbation=[1, 10]",
        ],
    ),
}


def untimed(run: Path) -> str:
    """metrics.json as canonical text without the wall-clock ``timing`` field."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("timing", None)
    return json.dumps(metrics, indent=1, sort_keys=True)


def train(side: str, code: Path, out: Path, jobs: list[str]) -> None:
    env = dict(os.environ)
    if side == "base":
        env["PYTHONPATH"] = str(code)  # the reference checkout shadows the installed package
    for name in jobs:
        recipe, sets = JOBS[name]
        run = out / side / name
        if (run / "metrics.json").is_file():
            print(f"{side}/{name}: finished earlier", flush=True)
            continue
        command = [sys.executable, "-m", "textmix.cli", "train", str(code / recipe), "--output-dir", str(run)]
        command += [arg for s in sets for arg in ("--set", s)] + ["--overwrite"]
        print(f"{side}/{name}: {' '.join(command)}", flush=True)
        subprocess.run(command, cwd=code, env=env, check=True)


def differing_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += differing_keys(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}")
    return keys


def compare(out: Path, jobs: list[str]) -> bool:
    same = True
    for name in jobs:
        a, b = untimed(out / "base" / name), untimed(out / "head" / name)
        if a == b:
            print(f"{name}: metrics.json identical (timing aside)")
        else:
            same = False
            print(f"{name}: DIFFERENT in {differing_keys(json.loads(a), json.loads(b))[:20]}")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="reference git revision (before the refactor)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "same_numbers")
    parser.add_argument("--side", choices=["base", "head", "both"], default="both")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {', '.join(JOBS)}")
    args = parser.parse_args(argv)
    jobs = [j for j in args.jobs.split(",") if j]
    out = args.out.resolve()
    if args.side in ("base", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            checkout = Path(tmp) / "base"
            subprocess.run(["git", "worktree", "add", "--detach", str(checkout), args.base], cwd=REPO, check=True)
            try:
                train("base", checkout, out, jobs)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, check=True)
    if args.side in ("head", "both"):
        train("head", REPO, out, jobs)
    if args.side == "both" or all((out / s / j / "metrics.json").is_file() for s in ("base", "head") for j in jobs):
        return 0 if compare(out, jobs) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
