"""Fitting and applying each post-hoc calibrator on large logits, against a reference library's
implementation of the same method, in one process (ratios, not absolute times, are the result).

    python -m bench.calibrator_speed                  # 1M × 10 logits (1M × 2 for Platt and Beta), 2 threads
    python -m bench.calibrator_speed --n 1000,100000,1000000 --threads 1,2   # the sizes users meet

References (test-only libraries, the ``dev`` extra): netcal for temperature scaling, matrix scaling
(its ``LogisticCalibration`` on logits), histogram binning (equal-width bins, as netcal bins) and
Beta calibration; scikit-learn for isotonic regression (one ``IsotonicRegression`` a class,
renormalized) and Platt scaling (``_SigmoidCalibration``). Vector, Dirichlet and ensemble
temperature scaling have no reference installed here: their own times are reported. Validation and
test halves of the logits; the time is fit on one half plus apply to the other, the median of
``--repeats`` runs alternating between the two sides. Goal: ratio (textmix / reference) <= 1.0.
"""

from __future__ import annotations

import argparse
import functools
import statistics

import numpy as np
import torch

from bench.common import thread_limit, timed, write_result
from textmix.core.calibrators import HistogramBinning, make_calibrator


def data(n: int, k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z / 2, 1), 1, generator=g).squeeze(1)  # overconfident logits
    return z.numpy().astype(np.float32), y.numpy()


def softmax(z):
    return torch.softmax(torch.from_numpy(z).double(), 1).numpy()


def references() -> dict:
    """name → fit-and-apply function (val logits, val labels, test logits) of the reference library."""
    from netcal.binning import HistogramBinning as NetcalHistogram
    from netcal.scaling import BetaCalibration, LogisticCalibration, TemperatureScaling
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    def netcal(make, on_probs=True, binary=False):
        def run(z, y, test):
            x, t = (softmax(z), softmax(test)) if on_probs else (z.astype(np.float64), test.astype(np.float64))
            if binary:
                x, t = x[:, 1], t[:, 1]
            return make().fit(x, y).transform(t)

        return run

    def isotonic(z, y, test):
        p, q = softmax(z), softmax(test)
        out = np.stack([IsotonicRegression(out_of_bounds="clip").fit(p[:, c], y == c).predict(q[:, c])
                        for c in range(p.shape[1])], axis=1)  # fmt: skip
        return out / np.maximum(out.sum(1, keepdims=True), 1e-12)

    def platt(z, y, test):
        return _SigmoidCalibration().fit(z[:, 1] - z[:, 0], y).predict(test[:, 1] - test[:, 0])

    return {
        "temperature": netcal(lambda: TemperatureScaling(method="mle")),
        "matrix": netcal(lambda: LogisticCalibration(method="mle")),
        "histogram": netcal(lambda: NetcalHistogram(bins=15)),
        "isotonic": isotonic,
        "platt": platt,
        "beta": netcal(lambda: BetaCalibration(method="mle"), binary=True),
    }


def ours(name: str):
    def run(z, y, test):
        calibrator = HistogramBinning(equal_mass=False) if name == "histogram" else make_calibrator(name)
        return calibrator.fit(z, y)(test)

    return run


NAMES = ["temperature", "vector", "matrix", "dirichlet", "ensemble_temperature", "histogram", "isotonic", "platt",
         "beta"]  # fmt: skip


def measure(name: str, z, y, repeats: int, reference: dict) -> dict:
    """One calibrator's median fit-and-apply time beside its reference's, on one data set."""
    half, warm_rows = len(z) // 2, min(1000, len(z) // 4)
    split = (z[:half], y[:half], z[half:])
    warm = (z[:warm_rows], y[:warm_rows], z[warm_rows : 2 * warm_rows])  # imports and thread start-up
    sides = {"textmix": ours(name), **({"reference": reference[name]} if name in reference else {})}
    for run in sides.values():
        run(*warm)
    times = {side: [] for side in sides}
    for _ in range(repeats):  # alternating, so both sides see the same machine
        for side, run in sides.items():
            times[side].append(timed(functools.partial(run, *split))[0])
    row = {"calibrator": name, "n": len(z), "classes": z.shape[1]}
    for side in sides:
        row[f"{side}_seconds"] = statistics.median(times[side])
    if "reference_seconds" in row:
        row["ratio"] = row["textmix_seconds"] / row["reference_seconds"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000000", help="comma-separated logit counts (half fit, half apply)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (median reported)")
    parser.add_argument("--threads", default="2", help="comma-separated thread limits (torch's and every pool)")
    parser.add_argument("--only", help="comma-separated calibrators to measure (default: all)")
    args = parser.parse_args(argv)
    reference, rows = references(), []
    for n in (int(v) for v in args.n.split(",")):
        multi, binary = data(n, args.classes), data(n, 2, seed=1)
        for threads in (int(v) for v in args.threads.split(",")):
            with thread_limit(threads):
                for name in args.only.split(",") if args.only else NAMES:
                    z, y = binary if name in ("platt", "beta") else multi
                    rows.append({**measure(name, z, y, args.repeats, reference), "threads": threads})
                    print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    command = (f"python -m bench.calibrator_speed --n {args.n} --classes {args.classes} --repeats {args.repeats}"
               f" --threads {args.threads}" + (f" --only {args.only}" if args.only else ""))  # fmt: skip
    write_result("calibrator_speed", {"command": command, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
