"""Conformal thresholds and prediction sets on large score matrices, against MAPIE's
``SplitConformalClassifier`` on the same probabilities, in one process (the ratio is the result).

    python -m bench.conformal_speed                   # 1k, 100k and 1M × 100, 1 and 2 threads
    python -m bench.conformal_speed --n 100000 --threads 1

Half the rows calibrate, half get sets, α = 0.1. Both sides are given the probabilities (MAPIE
through an estimator that returns rows of them); the time is calibration plus prediction sets, one
run each after a warm-up (the median of up to 5 alternating runs below 1,000,000 rows), both sides
under the same thread limit (torch's and every BLAS / OpenMP pool, threadpoolctl). LAC: the label
decisions that differ are counted (MAPIE includes a label whose score exceeds the threshold by less
than its tolerance of 1e-8; textmix follows the definition, score <= threshold). APS and RAPS: MAPIE
always randomizes them, so textmix's randomized scores are timed and only the time compares (the
random draws differ); RAPS tunes k_reg and λ on 20% of the calibration rows on both sides (MAPIE's
``size_raps``; textmix's default share). Goal: ratio (textmix / MAPIE) <= 1.0.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import thread_limit, timed, write_result
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
    from mapie.conformity_scores import RAPSConformityScore
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
    score = RAPSConformityScore(size_raps=0.2) if method == "raps" else method
    model = SplitConformalClassifier(Given().fit(rows, y), confidence_level=1 - alpha, conformity_score=score,
                                     random_state=0)  # fmt: skip
    model.conformalize(rows[:half], y[:half])
    return model.predict_set(rows[half:])[1][:, :, 0]


def ours(p, y, half: int, method: str, alpha: float) -> np.ndarray:
    score = make_score(method, randomized=method != "lac")  # MAPIE randomizes APS and RAPS
    return ConformalPredictor(score, alpha).fit(p[:half], y[:half]).predict(p[half:])


def median_run(run, repeats: int, *args) -> tuple[float, np.ndarray]:
    return sorted((timed(lambda: run(*args)) for _ in range(repeats)), key=lambda r: r[0])[repeats // 2]


def measure(p, y, method: str) -> dict:
    half, warm = len(p) // 2, min(4000, len(p) // 2)
    runs = max(1, min(5, 1_000_000 // len(p)))  # small inputs: the median of a few runs
    row = {"method": method, "n": len(p), "classes": p.shape[1]}
    ours(p[:warm], y[:warm], warm // 2, method, 0.1)  # warm-up on a small slice: imports, threads
    row["textmix_seconds"], mine = median_run(ours, runs, p, y, half, method, 0.1)
    try:
        mapie_sets(p[:warm], y[:warm], warm // 2, method, 0.1)
        row["mapie_seconds"], theirs = median_run(mapie_sets, runs, p, y, half, method, 0.1)
    except ValueError as error:  # MAPIE's RAPS splits its tuning rows stratified: refused on rare classes
        return {**row, "mapie_refused": str(error).splitlines()[0][:200]}
    return {**row, "ratio": row["textmix_seconds"] / row["mapie_seconds"],
            "differing_label_decisions": int((mine != theirs).sum()) if method == "lac" else None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread limits")
    parser.add_argument("--methods", default="lac,aps,raps")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(v) for v in args.n.split(",")):
        p, y = probabilities(n, args.classes)
        for threads in (int(v) for v in args.threads.split(",")):
            with thread_limit(threads):
                for method in args.methods.split(","):
                    rows.append({**measure(p, y, method), "threads": threads})
                    print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    command = (f"python -m bench.conformal_speed --n {args.n} --classes {args.classes} --threads {args.threads}"
               f" --methods {args.methods}")  # fmt: skip
    write_result("conformal_speed", {"command": command, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
