"""Risk control on real predictions: how much each Learn-then-Test procedure answers (abstention) or
how large its sets are (miscoverage), and how often the threshold's exact risk exceeds ε, against the
uncorrected rule (the most permissive threshold whose calibration risk is <= ε: the old
validation-table rule, ``predict --validation-risk``).

    python -m bench.risk_control_power RUN_DIR [RUN_DIR ...] [--draws 1000] [--n 1000] [--delta 0.1]

Each run's validation and test predictions, after temperature scaling fitted on validation, are
pooled; each draw takes ``--n`` calibration examples i.i.d. from the pool, so the pool is the
population and the exact risk of every chosen threshold is known. Levels: 50% and 80% of the pooled
error rate (abstention), 5% and 10% (sets). Writes bench/results/risk_control_power.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import write_result
from textmix.core.calibrators import make_calibrator
from textmix.core.risk_control import PROCEDURES, RiskControl


def pooled(run: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(run / "predictions.npz") as p:
        val, test = p["val_logits"].astype(np.float64), p["test_logits"].astype(np.float64)
        labels = np.concatenate([p["val_labels"], p["test_labels"]])
        temperature = make_calibrator("temperature").fit(val, p["val_labels"])
    return np.concatenate([temperature(val), temperature(test)]), labels


def measure(control: RiskControl, probs, labels) -> tuple[float, float]:
    """(share answered or mean set size, exact risk) of a fitted control on the whole pool."""
    if control.risk == "selective":
        answered = control.accepts(probs)
        wrong = (probs.argmax(1) != labels) & answered
        return float(answered.mean()), float(wrong.sum() / max(answered.sum(), 1))
    sets = control.sets(probs)
    return float(sets.sum(1).mean()), float(1 - sets[np.arange(len(labels)), labels].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--delta", type=float, default=0.1)
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        probs, labels = pooled(run)
        error = float((probs.argmax(1) != labels).mean())
        levels = [("selective", 0.5 * error), ("selective", 0.8 * error), ("miscoverage", 0.05), ("miscoverage", 0.1)]
        for risk, epsilon in levels:
            found = {name: ([], []) for name in (*PROCEDURES, "uncorrected")}
            for draw in range(args.draws):
                rows_ = np.random.default_rng(draw).integers(0, len(labels), args.n)
                counts = RiskControl.tabulate(risk, probs[rows_], labels[rows_])
                for procedure in PROCEDURES:
                    control = RiskControl(risk, epsilon, args.delta, procedure).fit_counts(counts)
                    for store, value in zip(found[procedure], measure(control, probs, labels)):
                        store.append(value)
                fits = np.flatnonzero((counts.n > 0) & (counts.losses <= epsilon * counts.n))
                naive = RiskControl(risk, epsilon, args.delta)
                naive.threshold = float(counts.thresholds[fits[-1]]) if len(fits) else control.threshold
                for store, value in zip(found["uncorrected"], measure(naive, probs, labels)):
                    store.append(value)
            for name, (size, exact) in found.items():
                rows.append({"run": run.name, "pooled": len(labels), "error": error, "risk": risk, "epsilon": epsilon,
                             "procedure": name, "answered_or_size": float(np.mean(size)),
                             "share_over_epsilon": float(np.mean(np.array(exact) > epsilon))})  # fmt: skip
                print(f"{run.name:28s} {risk:11s} ε={epsilon:.3f} {name:15s} "
                      f"{'answered' if risk == 'selective' else 'set size'} {np.mean(size):.3f} "
                      f"risk > ε in {np.mean(np.array(exact) > epsilon):.1%} of draws")  # fmt: skip
    command = f"python -m bench.risk_control_power {' '.join(str(r) for r in args.runs)} --draws {args.draws} " \
              f"--n {args.n} --delta {args.delta}"  # fmt: skip
    write_result("risk_control_power", {"command": command, "rows": rows})


if __name__ == "__main__":
    main()
