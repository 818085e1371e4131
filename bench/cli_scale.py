"""The command line at scale, with every input check on: ``textmix calibrate`` on 10 million
predictions (with and without conformal sets), ``textmix predict --file`` on 100,000 lines and
``textmix sweep --dry-run`` at the largest sweep it plans (10,000 runs), each in its own process
(wall time and peak resident memory of that process).

    TEXTMIX_DATA_DIR=../shared/data python -m bench.cli_scale [--rows 10000000] [--lines 100000]

calibrate: an .npz of N rows (labels, 2 logit columns) and a 100,000-row validation file,
temperature scaling fitted on it, the report written. predict: a Kim CNN trained on 300 MR reviews
for one epoch (the model size does not change the per-line work much), 100,000 review lines read
from a file, one prediction line each to /dev/null. sweep: the main job's recipe over a 100 × 100
grid of mixup.alpha × optim.lr, one seed, every recipe validated. Writes bench/results/cli_scale.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import write_result

# a fresh parent for each measured command, so that its children's peak is that command's alone
MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def run(command: list[str]) -> dict:
    """Wall seconds and peak resident memory (MiB) of one command."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return {"seconds": seconds, "peak_rss_mib": int(result.stderr.split()[-1]) / 1024}


def predictions(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 2)).astype(np.float32)
    logits[np.arange(n), labels] += 1.5  # a classifier that is right about 80% of the time
    np.savez(path, label=labels, logits=logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    textmix = [sys.executable, "-m", "textmix.cli"]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        predictions(folder / "test.npz", args.rows, 0)
        predictions(folder / "val.npz", 100_000, 1)
        calibrate = run([*textmix, "calibrate", str(folder / "test.npz"), "--labels", "label", "--logits", "logits",
                         "--val", str(folder / "val.npz"), "--out", str(folder / "report")])  # fmt: skip
        print(f"calibrate {args.rows:,} rows: {calibrate['seconds']:.1f} s, peak {calibrate['peak_rss_mib']:.0f} MiB")
        conformal = run([*textmix, "calibrate", str(folder / "test.npz"), "--labels", "label", "--logits", "logits",
                         "--val", str(folder / "val.npz"), "--conformal", "0.1",
                         "--out", str(folder / "sets")])  # fmt: skip
        print(f"calibrate --conformal 0.1: {conformal['seconds']:.1f} s, peak {conformal['peak_rss_mib']:.0f} MiB")
        train = [*textmix, "train", "recipes/mr/kim_cnn_mixup.yaml", "--output-dir", str(folder / "run"),
                 "--set", "data.max_train_examples=300", "--set", "train.epochs=1", "--set", "model.num_filters=8",
                 "--set", "eval.bootstrap_resamples=0", "--set", "eval.mc_dropout_samples=0"]  # fmt: skip
        subprocess.run(train, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        texts = "".join(f"review {i}: a gripping, funny and sad film about nothing much\n" for i in range(args.lines))
        (folder / "lines.txt").write_text(texts)
        predict = run([*textmix, "predict", str(folder / "run"), "--file", str(folder / "lines.txt")])
        print(f"predict {args.lines:,} lines: {predict['seconds']:.1f} s, peak {predict['peak_rss_mib']:.0f} MiB")
        grid = ["--grid", "mixup.alpha=" + ",".join(f"{0.01 * i:.2f}" for i in range(1, 101)),
                "--grid", "optim.lr=" + ",".join(f"{1e-4 * i:.4f}" for i in range(1, 101))]  # fmt: skip
        sweep = run([*textmix, "sweep", "recipes/mr/kim_cnn_mixup.yaml", *grid, "--seeds", "1", "--dry-run",
                     "--out", str(folder / "sweep")])  # fmt: skip
        print(f"sweep --dry-run of 10,000 runs: {sweep['seconds']:.1f} s, peak {sweep['peak_rss_mib']:.0f} MiB")
    measured = {"calibrate": calibrate, "calibrate_conformal": conformal, "predict": predict, "sweep_dry_run": sweep}
    write_result("cli_scale", {"rows": args.rows, "lines": args.lines, **measured})


if __name__ == "__main__":
    main()
