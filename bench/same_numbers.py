"""A refactor changes no number: train the same recipes with a reference revision and with the
working tree, on this machine and seed, and compare every number of ``metrics.json`` (timing aside).

The evaluation part is read through ``Assessment.from_json`` on both sides, so a layout change
(textmix 0.3's ``temperature_scaled`` against today's ``calibrated.temperature``) is no difference;
numbers only one side has are listed as added or removed, and only changed or removed numbers
fail.

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

from textmix.core.assessment_legacy import OLD_TEMPERATURE

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


# the keys of metrics.json that hold the assessment, in any layout textmix wrote
ASSESSMENT_KEYS = {"assessment", "n_bins", "val", "test", "intervals", "calibrated", "calibrator_choice",
                   "conformal", "ood", "shift", OLD_TEMPERATURE}  # fmt: skip


def untimed(run: Path) -> dict:
    """metrics.json without the wall-clock ``timing`` field, its assessment in the current layout."""
    from textmix.core.assessment import Assessment

    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("timing", None)
    records = {k: v for k, v in metrics.items() if k not in ASSESSMENT_KEYS}
    return json.loads(json.dumps({**records, "assessment": Assessment.from_json(metrics).to_json()}))


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


def largest_change(a: dict, b: dict, keys: list[str]) -> float:
    """The largest |b − a| among the changed numbers ``keys`` (dotted; NaN when none is a number)."""

    def at(d, key):
        for part in key.split("."):
            d = d[part]
        return d

    gaps = [abs(at(b, k) - at(a, k)) for k in keys if all(isinstance(at(d, k), (int, float)) for d in (a, b))]
    return max(gaps, default=float("nan"))


def differing_keys(a: dict, b: dict, prefix: str = "") -> dict[str, list[str]]:
    """{"changed", "added", "removed"}: dotted keys whose values differ, that only ``b`` or only
    ``a`` has."""
    out = {"changed": [], "added": [], "removed": []}
    for key in sorted(set(a) | set(b)):
        where = f"{prefix}{key}"
        if key not in a or key not in b:
            out["added" if key in b else "removed"].append(where)
        elif isinstance(a[key], dict) and isinstance(b[key], dict):
            for kind, keys in differing_keys(a[key], b[key], f"{where}.").items():
                out[kind] += keys
        elif a[key] != b[key]:
            out["changed"].append(where)
    return out


def compare(out: Path, jobs: list[str]) -> bool:
    same = True
    for name in jobs:
        base, head = untimed(out / "base" / name), untimed(out / "head" / name)
        diff = differing_keys(base, head)
        if not any(diff.values()):
            print(f"{name}: metrics.json identical (timing aside)")
            continue
        same = same and not diff["changed"] and not diff["removed"]
        for kind, keys in diff.items():
            if keys:
                print(f"{name}: {len(keys)} {kind}: {keys[:12]}{' ...' if len(keys) > 12 else ''}")
        if diff["changed"]:
            print(f"{name}: largest change {largest_change(base, head, diff['changed']):.2e}")
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
