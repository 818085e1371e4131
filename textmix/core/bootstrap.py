"""Bootstrap confidence intervals of a run's metrics, resampling test examples (vectorised: 1,000
resamples of 25,000 examples take under half a second; ``bench/bootstrap_speed.py``).

Each resample draws N examples with replacement (a seeded numpy generator; it draws positions in
the ranking by descending score, which is the same as drawing examples); a metric's interval is
the 2.5th and 97.5th percentile of its resampled values (the percentile bootstrap). Resamples are
represented by per-example counts, so the metrics are weighted sums: accuracy, ECE and OE over the
fixed equal-width bins, and AURC over the fixed ranking.

Every sum runs in an order numpy fixes (no BLAS): a matrix product's rounding depends on the BLAS
thread count and the processor's kernel, and the same run must write the same intervals in a
sequential sweep, a ``--jobs 2`` sweep and on another machine.
"""

from __future__ import annotations

import numpy as np

METRICS = ("accuracy", "ece", "oe", "aurc")
ONE_CALL_DRAWS = 2**22  # up to this many draws (N × resamples) in one piece
CHUNK_DRAWS = 2**18  # else in pieces of about this many


def bootstrap_metrics(probs, labels, n_bins: int = 15, resamples: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Each metric of ``METRICS`` on every resample: {metric: (resamples,)}.

    Args:
        probs: (N, K) probabilities.
        labels: (N,) integer labels.
        n_bins: equal-width bins of ECE / OE (as ``calibration_report``).
        resamples: bootstrap resamples.
        seed: numpy seed; the same seed gives the same resamples.
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    conf, correct = probs.max(1), (probs.argmax(1) == labels).astype(np.float64)
    n = len(conf)
    # examples in ranked order (descending score; equal scores form one group, wrong predictions
    # first within it, so the row order of the input never matters): a resample draws ranked
    # positions uniformly, and counts how often each is drawn
    order = np.lexsort((correct, -conf))
    conf, correct = conf[order], correct[order]
    bins = np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="right") - 1, 0, n_bins - 1)
    # ranked by descending confidence, each non-empty bin is one run of positions: (start, bin)
    starts = np.flatnonzero(np.append(True, bins[1:] != bins[:-1]))
    runs = (starts, bins[starts], n_bins)
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))  # last position of each tie group
    rng = np.random.default_rng(seed)
    # large test sets: resamples in chunks of ~0.26M draws (2 MB): the same draws as one (R, N)
    # call, in arrays that stay in cache and are reused instead of paged in afresh (4x faster)
    chunk = resamples if n * resamples <= ONE_CALL_DRAWS else max(1, CHUNK_DRAWS // n)
    parts = [_resample_metrics(rng, min(chunk, resamples - start), n, runs, conf, correct, ends)
             for start in range(0, resamples, chunk)]  # fmt: skip
    return {k: np.concatenate([p[k] for p in parts]) for k in METRICS}


def _resample_metrics(rng, r: int, n: int, runs, conf, correct, ends) -> dict[str, np.ndarray]:
    """The metrics of ``r`` resamples drawn from ``rng`` (see :func:`bootstrap_metrics`)."""
    draws = rng.integers(0, n, size=(r, n), dtype=np.int64)  # (R, N)
    draws += np.arange(r, dtype=np.int64)[:, None] * n
    counts = np.bincount(draws.ravel(), minlength=r * n).reshape(r, n).astype(np.int32)  # (R, N)

    # ECE / OE: count, confidence and correct sums of the fixed equal-width bins, per resample
    weights = counts.astype(np.float64)
    size, hit_sum, conf_sum = (_bin_sums(weights * w, runs) for w in (1.0, correct, conf))  # (R, M) each
    del weights
    safe = np.maximum(size, 1)
    gap = conf_sum / safe - hit_sum / safe  # mean confidence − accuracy

    # AURC: risk after each tie group of the ranking, weighted by the group's share of the resample.
    # Counts are integers: int32 running sums are exact (N < 2^31) and half the memory of floats.
    accepted = np.cumsum(counts, axis=1, dtype=np.int32)  # (R, N)
    counts *= (1 - correct).astype(np.int32)  # now: draws of wrong predictions
    errors = np.cumsum(counts, axis=1, dtype=np.int32)
    if len(ends) < n:  # ties: the risk after each group, (R, G)
        accepted, errors = accepted[:, ends], errors[:, ends]
    accepted, errors = accepted.astype(np.float64), errors.astype(np.float64)
    risk = np.diff(accepted, axis=1, prepend=0)  # group sizes, then × errors / accepted in place
    risk *= errors
    risk /= np.maximum(accepted, 1, out=accepted)
    return {
        "accuracy": hit_sum.sum(1) / n,
        "ece": (size * np.abs(gap)).sum(1) / n,
        "oe": (conf_sum * np.maximum(gap, 0)).sum(1) / n,  # Σ |B|/n · conf · max(conf − acc, 0)
        # summed left to right (a running sum's last value): the order of every earlier version
        "aurc": np.cumsum(risk, axis=1)[:, -1] / n,
    }


def _bin_sums(values: np.ndarray, runs) -> np.ndarray:
    """(R, M) per-bin sums of (R, N) per-position values, each bin a run of ranked positions;
    numpy's own reduction order, whatever BLAS and the thread count (empty bins: 0)."""
    starts, bins, n_bins = runs
    out = np.zeros((len(values), n_bins))
    out[:, bins] = np.add.reduceat(values, starts, axis=1)
    return out


def bootstrap_intervals(probs, labels, n_bins: int = 15, resamples: int = 1000, seed: int = 0) -> dict:
    """{metric: {"low", "high", "std"}}: the 95% percentile interval and the bootstrap standard error."""
    values = bootstrap_metrics(probs, labels, n_bins, resamples, seed)
    return {
        k: {"low": float(np.percentile(v, 2.5)), "high": float(np.percentile(v, 97.5)), "std": float(v.std(ddof=1))}
        for k, v in values.items()
    }
