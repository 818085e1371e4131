"""The noise floor of a calibration error: what the same estimator reports for a *perfectly
calibrated* model with the same confidences and test size.

Consistency resampling (Bröcker & Smith, "Increasing the Reliability of Reliability Diagrams",
Weather and Forecasting 2007): each draw keeps the N confidences f_i and replaces correctness by
y_i ~ Bernoulli(f_i), a world where the model is calibrated by construction; the estimator's values
over the draws give its expected value and 95th percentile. A measured ECE at or below the floor's
mean is indistinguishable from perfect calibration at this test size; differences between models
smaller than the floor's spread rank noise (on MR's 1,066 test reviews with 15 bins the expected
ECE of a perfect model is about 2.5%; on IMDB's 25,000 about 0.4%).

Vectorised and order-free: confidences are sorted first (the floor depends on their multiset only),
so every fixed bin is one run of positions and per-bin sums are ``np.add.reduceat`` over the draws
(no BLAS: the same numbers on any machine and thread count). Example::

    >>> conf = np.full(1000, 0.8)
    >>> floor = noise_floor(conf, n_bins=15, seed=0)
    >>> 0.005 < floor["ece"]["mean"] < 0.02
    True
"""

from __future__ import annotations

import logging

import numpy as np

from textmix.core.metrics import debiased_from_sums, equal_mass_bins
from textmix.core.smooth_ece import smooth_ece_batch

DRAWS = 1000  # label draws for the binned estimators (ECE, adaptive, debiased): well under 1 s at 25k
logger = logging.getLogger(__name__)
SMOOTH_DRAWS = 200  # for smooth ECE (a kernel fit per draw: ~0.3 s at 25k examples)
CHUNK = 2**23  # draws × examples per piece (64 MB of float64)
MAX_TOTAL = 5 * 10**7  # draws × examples at most (about 1 s); fewer draws beyond, none under MIN_DRAWS
MIN_DRAWS = 100
EXACT_BIN = 5000  # a bin at least this large gets the normal approximation of its band (large sets only)
FLOORED = ("ece", "adaptive_ece", "debiased_ece", "smooth_ece")


def noise_floor(conf, n_bins: int = 15, draws: int = DRAWS, smooth_draws: int = SMOOTH_DRAWS, seed: int = 0) -> dict:
    """{metric: {"mean", "p95"}} for ece, adaptive_ece, debiased_ece and smooth_ece (smooth ECE only
    when ``smooth_draws`` > 0) of a perfectly calibrated model with confidences ``conf`` (N,).

    Args:
        conf: winning probabilities (top-label confidences) of the test examples.
        n_bins: bins of ECE and of the equal-mass estimators (as ``calibration_report``).
        draws: label draws of the binned estimators.
        smooth_draws: label draws of smooth ECE (the first ``smooth_draws`` of the same draws).
        seed: numpy seed; the same seed and confidences give the same floor.
    """
    conf = np.sort(np.asarray(conf, dtype=np.float64))
    n = len(conf)
    width = np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="right") - 1, 0, n_bins - 1)
    binnings = {"ece": _Bins(width, conf), "equal_mass": _Bins(equal_mass_bins(conf, n_bins), conf)}
    values = {name: [] for name in FLOORED}
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK // n)
    for start in range(0, draws, chunk):
        correct = (rng.random((min(chunk, draws - start), n)) < conf).astype(np.float64)  # (D, N)
        values["ece"].append(binnings["ece"].ece(correct))
        values["adaptive_ece"].append(binnings["equal_mass"].ece(correct))
        values["debiased_ece"].append(binnings["equal_mass"].debiased(correct))
        if start < smooth_draws:
            values["smooth_ece"].append(smooth_ece_batch(conf, correct[: smooth_draws - start]))
    out = {}
    for name, parts in values.items():
        if parts:
            v = np.concatenate(parts)
            out[name] = {"mean": float(v.mean()), "p95": float(np.percentile(v, 95))}
    return out


def affordable_draws(n: int, draws: int) -> int:
    """``draws``, fewer for a large set (at most MAX_TOTAL draws × examples), or 0 (with a notice)
    when fewer than MIN_DRAWS would remain: at that size the floor is below 1/sqrt(N) anyway."""
    fitting = min(draws, MAX_TOTAL // max(n, 1))
    if draws and fitting < MIN_DRAWS:
        logger.warning(f"notice: no noise floor for {n:,} examples (more than {MAX_TOTAL // MIN_DRAWS:,}); at this "
                       f"size it is below {1 / np.sqrt(n):.4f} (1/sqrt(N))")  # fmt: skip
        return 0
    return fitting


def consistency_band(conf, n_bins: int = 15, draws: int = DRAWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per equal-width bin, the 2.5th and 97.5th percentile of the accuracy a perfectly calibrated
    model with these confidences would show there (consistency bars, Bröcker & Smith 2007): (n_bins,)
    each, NaN for empty bins. A reliability diagram's bar outside its band is a real gap."""
    conf = np.sort(np.asarray(conf, dtype=np.float64))
    index = np.clip(np.searchsorted(np.linspace(0, 1, n_bins + 1), conf, side="right") - 1, 0, n_bins - 1)
    bins = _Bins(index, conf)
    rng = np.random.default_rng(seed)
    low, high = np.full(n_bins, np.nan), np.full(n_bins, np.nan)
    filled = index[bins.starts]
    if len(conf) * MIN_DRAWS <= MAX_TOTAL:  # every label drawn
        draws = min(draws, MAX_TOTAL // max(len(conf), 1))
        accuracy = bins.hits((rng.random((draws, len(conf))) < conf).astype(np.float64)) / bins.size  # (D, filled)
        low[filled], high[filled] = np.percentile(accuracy, [2.5, 97.5], axis=0)
        return low, high
    # beyond 500,000 examples drawing every label would take gigabytes: a bin's hits are a sum of
    # independent Bernoulli(c_i), normal with mean Σc_i and variance Σc_i(1 − c_i) (Lyapunov's CLT)
    # for bins of thousands; the few small bins are drawn exactly
    spread = 1.959963984540054 * np.sqrt(np.add.reduceat(conf * (1 - conf), bins.starts))
    low[filled] = np.clip((bins.conf_sum - spread) / bins.size, 0, 1)
    high[filled] = np.clip((bins.conf_sum + spread) / bins.size, 0, 1)
    for start, size, b in zip(bins.starts, bins.size.astype(int), filled):
        if size < EXACT_BIN:
            hits = (rng.random((draws, size)) < conf[start : start + size]).sum(axis=1) / size
            low[b], high[b] = np.percentile(hits, [2.5, 97.5])
    return low, high


class _Bins:
    """Fixed bins of sorted confidences: each bin a run of positions."""

    def __init__(self, index: np.ndarray, conf: np.ndarray):
        self.starts = np.flatnonzero(np.append(True, index[1:] != index[:-1]))  # (B,) first position per bin
        self.size = np.diff(np.append(self.starts, len(conf))).astype(np.float64)
        self.conf_sum = np.add.reduceat(conf, self.starts)

    def hits(self, correct: np.ndarray) -> np.ndarray:
        return np.add.reduceat(correct, self.starts, axis=1)  # (D, B)

    def ece(self, correct: np.ndarray) -> np.ndarray:
        return np.abs(self.hits(correct) - self.conf_sum).sum(axis=1) / self.size.sum()

    def debiased(self, correct: np.ndarray) -> np.ndarray:
        return debiased_from_sums(self.size, self.conf_sum, self.hits(correct))


def below_floor(value: float, floor: dict | None) -> bool:
    """Whether a measured calibration error is within its noise floor (at or below the floor's 95th
    percentile: a perfectly calibrated model would report as much one time in twenty)."""
    return bool(floor) and value <= floor["p95"]


FLOOR_MARK = "†"


def floor_mark(shown: str, metric: str, block) -> str:
    """A table cell: the shown value, marked † when the block's floor of ``metric`` holds it."""
    floor = block.floor.get(metric) if block.floor else None
    return f"{shown}{FLOOR_MARK}" if floor and below_floor(block.metrics[metric], floor) else shown


def show_floor(floor: dict | None) -> str:
    """ "2.52 (3.90)": a floor's mean and 95th percentile in percent ("—" when not computed)."""
    return "—" if not floor else f"{100 * floor['mean']:.2f} ({100 * floor['p95']:.2f})"
