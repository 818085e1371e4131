"""How good prediction sets are: coverage, size, and where coverage fails.

- coverage: share of examples whose set holds the true label;
- mean_size, singleton_rate, empty_rate;
- sscv: size-stratified coverage violation (Angelopoulos et al., ICLR 2021): the largest
  |coverage − (1 − α)| over the set-size strata 0, 1, 2–3, 4–10, 11–100, 101+ that hold examples;
- covgap: class-conditional coverage gap (Ding et al., NeurIPS 2023): the mean over classes of
  |coverage of the class − (1 − α)|;
- coverage_by_size: n and coverage of the examples with each set size;
- coverage_by_class: n and coverage of the examples of each class (which class misses 1 − α);
- size_floor: with top-1 accuracy a, sets that hold the top label whenever they are non-empty and
  reach coverage 1 − α cannot average fewer than 1 + max(0, 1 − α − a) labels (the singletons cover
  at most a; every further covered example needs a second label): the size to compare mean_size with;
- intervals: 95% percentile-bootstrap intervals of coverage and mean size (test examples resampled).
"""

from __future__ import annotations

import numpy as np

STRATA = ((0, 0), (1, 1), (2, 3), (4, 10), (11, 100), (101, None))


def set_report(sets: np.ndarray, labels, alpha: float, resamples: int = 1000, seed: int = 0,
               accuracy: float | None = None) -> dict:  # fmt: skip
    """Metrics of (N, K) boolean sets against (N,) labels at target coverage 1 − α; with the top-1
    ``accuracy`` of the probabilities the sets came from, also their size floor."""
    labels = np.asarray(labels)
    covered = sets[np.arange(len(labels)), labels]
    sizes = sets.sum(axis=1)
    target = 1 - alpha
    gaps = []
    for low, high in STRATA:
        inside = (sizes >= low) & (sizes <= (high if high is not None else sizes.max()))
        if inside.any():
            gaps.append(abs(covered[inside].mean() - target))
    classes = np.unique(labels)
    out = {
        "alpha": alpha,
        "coverage": float(covered.mean()),
        "mean_size": float(sizes.mean()),
        "singleton_rate": float((sizes == 1).mean()),
        "empty_rate": float((sizes == 0).mean()),
        "sscv": float(max(gaps)),
        "covgap": float(np.mean([abs(covered[labels == k].mean() - target) for k in classes])),
        "coverage_by_size": {
            int(s): {"n": int((sizes == s).sum()), "coverage": float(covered[sizes == s].mean())}
            for s in np.unique(sizes)
        },
        "coverage_by_class": {
            int(k): {"n": int((labels == k).sum()), "coverage": float(covered[labels == k].mean())} for k in classes
        },
        "n": int(len(labels)),
    }
    if accuracy is not None:
        out["size_floor"] = 1 + max(0.0, target - accuracy)
    if resamples:
        out["intervals"] = _bootstrap(covered.astype(np.float64), sizes.astype(np.float64), resamples, seed)
    return out


def _bootstrap(covered: np.ndarray, sizes: np.ndarray, resamples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(covered)
    means = np.empty((resamples, 2))
    for r in range(resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        # integer-valued sums: exact in any order, so BLAS threads cannot change them
        means[r] = counts @ covered / n, counts @ sizes / n
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return {
        "coverage": {"low": float(low[0]), "high": float(high[0])},
        "mean_size": {"low": float(low[1]), "high": float(high[1])},
    }
