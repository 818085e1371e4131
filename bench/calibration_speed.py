"""Calibration evaluator vs torchmetrics on N × K probabilities: time ratio and value difference.

    python -m bench.calibration_speed [--n 1000000] [--k 10] [--repeats 5]

Prints a table and writes bench/results/calibration_speed.json. Both sides get the same float32
probabilities; times are medians of interleaved repetitions (textmix includes input validation).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from bench.common import timed
from textmix.core.metrics import calibration_report, expected_calibration_error, overconfidence_error, reliability_bins


def numpy_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """A plain float64 ECE with torchmetrics' binning, as an independent value reference."""
    conf = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    index = np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    gap = np.abs(np.bincount(index, correct, n_bins) - np.bincount(index, conf, n_bins))
    return float(gap.sum() / count.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--bins", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "calibration_speed.json"))
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(args.n, args.k, generator=g), dim=1)  # float32
    labels = torch.randint(0, args.k, (args.n,), generator=g)
    cases = {
        "torchmetrics multiclass_calibration_error (l1)": lambda: float(
            multiclass_calibration_error(probs, labels, num_classes=args.k, n_bins=args.bins, norm="l1")
        ),
        "textmix expected_calibration_error": lambda: expected_calibration_error(probs, labels, args.bins),
        "textmix overconfidence_error": lambda: overconfidence_error(probs, labels, args.bins),
        "textmix reliability_bins (ECE, OE, MCE at once)": lambda: reliability_bins(probs, labels, args.bins).ece,
        "textmix calibration_report (all metrics)": lambda: calibration_report(probs, labels, args.bins)["ece"],
    }
    probs64 = probs.double()
    cases["torchmetrics on float64 input (value reference)"] = lambda: float(
        multiclass_calibration_error(probs64, labels, num_classes=args.k, n_bins=args.bins, norm="l1")
    )
    cases["numpy float64 reference (np.bincount)"] = lambda: numpy_ece(probs.numpy(), labels.numpy(), args.bins)
    times = {name: [] for name in cases}
    values = {}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            seconds, values[name] = timed(fn)
            times[name].append(seconds)
    reference = "torchmetrics multiclass_calibration_error (l1)"
    ref_time = statistics.median(times[reference])
    rows = []
    for name in cases:
        median = statistics.median(times[name])
        rows.append(
            {
                "case": name,
                "median_s": median,
                "min_s": min(times[name]),
                "max_s": max(times[name]),
                "ratio_to_torchmetrics": median / ref_time,
                "value": values[name],
            }
        )
    ece_diff = abs(values["textmix expected_calibration_error"] - values[reference])
    ece_diff64 = abs(
        values["textmix expected_calibration_error"] - values["torchmetrics on float64 input (value reference)"]
    )
    numpy_value = values["numpy float64 reference (np.bincount)"]
    ece_diff_numpy = abs(values["textmix expected_calibration_error"] - numpy_value)
    tm_diff_numpy = abs(values[reference] - numpy_value)
    result = {
        "n": args.n,
        "k": args.k,
        "bins": args.bins,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "ece_abs_difference_float32_input": ece_diff,
        "ece_abs_difference_float64_input": ece_diff64,
        "ece_abs_difference_textmix_vs_numpy64": ece_diff_numpy,
        "ece_abs_difference_torchmetrics_vs_numpy64": tm_diff_numpy,
        "rows": rows,
    }
    print(f"{args.n} x {args.k} probabilities, {args.bins} bins, median of {args.repeats}")
    print(f"{'case':52s} {'median s':>9s} {'ratio':>7s}  value")
    for row in rows:
        print(f"{row['case']:52s} {row['median_s']:9.3f} {row['ratio_to_torchmetrics']:7.2f}  {row['value']:.8f}")
    print(f"|ECE textmix − ECE torchmetrics|: float32 input {ece_diff:.2e}, float64 input {ece_diff64:.2e}")
    print(f"against the float64 numpy reference: textmix {ece_diff_numpy:.2e}, torchmetrics {tm_diff_numpy:.2e}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
