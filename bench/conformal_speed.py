"""Conformal thresholds and prediction sets on large score matrices, against MAPIE's
``SplitConformalClassifier`` on the same probabilities, in one process (the ratio is the result).

    python -m bench.conformal_speed                   # 1M × 100: half calibrates, half gets sets
    python -m bench.conformal_speed --n 100000

Both sides are given the probabilities (MAPIE through an estimator that returns rows of them); the
time is calibration plus prediction sets. LAC: the label decisions that differ are counted (MAPIE
includes a label whose score exceeds the threshold by less than its tolerance of 1e-8; textmix
follows the definition, score <= threshold). APS: MAPIE always randomizes its calibration scores,
textmix here does not, so only the time compares. Goal: ratio
(textmix / MAPIE) <= 1.0.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import write_result
from textmix.core.conformal import ConformalPredictor, make_score


def probabilities(n: int, k: int, seed: int = 0):
    g = np.random.default_rng(seed)
    z = 2 * g.normal(size=(n, k)).astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (p.cumsum(1) < g.uniform(size=(n, 1))).sum(1).clip(0, k - 1)
    return p, y


def mapie_sets(p, y, half: int, method: str, alpha: float) -> np.ndarray:
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Given(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.arange(p.shape[1])
            return self

        def predict_proba(self, X):
            return p[X[:, 0]]

        def predict(self, X):
            return self.predict_proba(X).argmax(1)

    rows = np.arange(len(p))[:, None]
    model = SplitConformalClassifier(Given().fit(rows, y), confidence_level=1 - alpha, conformity_score=method)
    model.conformalize(rows[:half], y[:half])
    return model.predict_set(rows[half:])[1][:, :, 0]


def ours(p, y, half: int, method: str, alpha: float) -> np.ndarray:
    return ConformalPredictor(make_score(method), alpha).fit(p[:half], y[:half]).predict(p[half:])


def timed(run, *args) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = run(*args)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=100)
    args = parser.parse_args(argv)
    p, y = probabilities(args.n, args.classes)
    half, rows = args.n // 2, []
    for method in ("lac", "aps"):
        for run in (ours, mapie_sets):  # warm-up on a small slice
            run(p[:4000], y[:4000], 2000, method, 0.1)
        textmix_seconds, mine = timed(ours, p, y, half, method, 0.1)
        mapie_seconds, theirs = timed(mapie_sets, p, y, half, method, 0.1)
        row = {"method": method, "n": args.n, "classes": args.classes, "textmix_seconds": textmix_seconds,
               "mapie_seconds": mapie_seconds, "ratio": textmix_seconds / mapie_seconds,
               "differing_label_decisions": int((mine != theirs).sum()) if method == "lac" else None}  # fmt: skip
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    command = f"python -m bench.conformal_speed --n {args.n} --classes {args.classes}"
    write_result("conformal_speed", {"command": command, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
