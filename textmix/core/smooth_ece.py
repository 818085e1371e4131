"""Smooth ECE (Błasiok & Nakkiran, "Smooth ECE: Principled Reliability Diagrams via Kernel
Smoothing", ICLR 2024, https://arxiv.org/abs/2309.12236): the residuals r_i = f_i − y_i (confidence
minus correctness) are smoothed with a Gaussian kernel of bandwidth σ, reflected at 0 and 1, and
smECE_σ = ∫ |r̂_σ(t)| dt / ∫ δ̂_σ(t) dt (δ̂: the smoothed density). The reported value uses the
σ* with smECE_σ* = σ*, found by bisection. Unlike binned ECE it has no bin edges to tune and is
continuous in the predictions.

The discretisation is the one of the authors' ``relplot`` package (tested against it): residuals
and counts are spread linearly onto a grid of ``max(2000, round(20 / σ)) // 2 + 1`` points, the
kernel is sampled on the same grid, the smoothed curves are read at ``max(200, round(10 / σ))``
points, and σ is bisected 10 times on [0, 1] (σ < 0.001 counts as a fixed point).

Every function takes one set of confidences and any number of correctness vectors (D, N): the
noise floor (:mod:`textmix.core.noise_floor`) evaluates a thousand label draws in one batch, the
draws that reach the same σ sharing one FFT convolution. Example::

    >>> conf = np.array([0.9, 0.8, 0.7, 0.6]); correct = np.array([1.0, 1.0, 0.0, 1.0])
    >>> round(smooth_ece(conf, correct), 4)
    0.0958
"""

from __future__ import annotations

import numpy as np

SMALLEST_SIGMA = 0.001  # bisection stops accepting bandwidths below this (relplot's eps)
STEPS = 10  # bisection steps on [0, 1]
DENSITY_EPS = 1e-4  # added to the smoothed density before it divides (relplot's)
MIN_GRID, MIN_EVAL = 2000, 200
CACHED_GRIDS = 4  # grid sizes kept per batch (a size is D × G floats)


def smooth_ece(conf, correct) -> float:
    """Smooth ECE of confidences (N,) against correctness (N,) (1 = the prediction was right)."""
    return float(smooth_ece_batch(np.asarray(conf, np.float64), np.asarray(correct, np.float64)[None])[0])


def smooth_ece_batch(conf: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Smooth ECE of each row of ``correct`` (D, N) against the same confidences (N,): (D,)."""
    grids = _Grids(conf, correct)
    d = len(correct)
    start, end = np.ones(d), np.zeros(d)
    value = grids.at(1.0, np.arange(d))  # smECE at each draw's current upper end
    fixed = value > 1.0  # σ = 1 already below its smECE: keep it
    for _ in range(STEPS):
        mid = (start + end) / 2
        below = mid < SMALLEST_SIGMA
        at_mid = np.zeros(d)
        todo = np.flatnonzero(~fixed & ~below)
        for sigma in np.unique(mid[todo]):  # draws in lockstep share their midpoints
            rows = todo[mid[todo] == sigma]
            at_mid[rows] = grids.at(float(sigma), rows)
        accept = below | (mid < at_mid)  # σ still smaller than its smECE: the fixed point is above
        end = np.where(~fixed & accept, mid, end)
        moved = ~fixed & ~accept
        start, value = np.where(moved, mid, start), np.where(moved, at_mid, value)
    return value


class _Grids:
    """Residual and count grids of one confidence vector and D correctness rows, per grid size."""

    def __init__(self, conf: np.ndarray, correct: np.ndarray):
        if (np.diff(conf) < 0).any():  # sorted once: each grid point then takes one run of examples
            order = np.argsort(conf, kind="stable")
            conf, correct = conf[order], correct[:, order]
        self.conf = conf
        # running sums of y and y·f per row: any run's sums in two reads, for every grid size
        self.hits = np.cumsum(correct, axis=1)  # (D, N); integers: exact
        self.weighted = np.cumsum(correct * conf, axis=1)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(residual grid (D, size), count grid (size,)): f − y and 1 spread linearly onto the grid
        (example i gives 1 − frac_i to its grid point low_i and frac_i = f_i (size − 1) − low_i to the next)."""
        if size not in self.cache:
            position = self.conf * (size - 1)
            low = np.clip(position.astype(np.int64), 0, size - 2)
            frac = position - low
            counts = np.bincount(low, 1 - frac, size) + np.bincount(low + 1, frac, size)
            conf_part = np.bincount(low, (1 - frac) * self.conf, size) + np.bincount(low + 1, frac * self.conf, size)
            ends = np.flatnonzero(np.append(low[1:] != low[:-1], True))  # last example of each run
            point = low[ends]
            run_hits = np.diff(self.hits[:, ends], axis=1, prepend=0)  # Σ y per run, (D, runs)
            run_weighted = np.diff(self.weighted[:, ends], axis=1, prepend=0)  # Σ y·f per run
            upper = (size - 1) * run_weighted - point * run_hits  # Σ y·frac per run
            hits = np.zeros((len(self.hits), size))
            hits[:, point] = run_hits - upper
            hits[:, point + 1] += upper
            if len(self.cache) >= CACHED_GRIDS:
                del self.cache[next(iter(self.cache))]  # the oldest
            self.cache[size] = (conf_part - hits, counts)
        return self.cache[size]

    def at(self, sigma: float, rows: np.ndarray) -> np.ndarray:
        """smECE_σ of the correctness rows ``rows``: (len(rows),)."""
        size = max(MIN_GRID, round(20 / sigma)) // 2 + 1
        residual, counts = self.grid(size)
        kernel = np.exp(-((np.linspace(0, 1, size) - 0.5) ** 2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
        smoothed = _reflected_convolution(np.vstack([counts, residual[rows]]), kernel)  # (1 + R, size)
        points = np.linspace(0, 1, max(round(10 / sigma), MIN_EVAL))
        read = _interpolate(smoothed, points)  # (1 + R, points)
        return np.abs(read[1:]).sum(axis=1) / (read[0] + DENSITY_EPS).sum()


def _reflected_convolution(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Each row of ``values`` (R, G), mirrored at both ends, convolved with ``kernel`` (G,): (R, G),
    by FFT (scipy.fft: a light import, unlike scipy.signal)."""
    from scipy import fft

    g = values.shape[1]
    mirrored = np.concatenate([values[:, ::-1][:, :-1], values, values[:, ::-1][:, 1:]], axis=1)  # (R, 3G − 2)
    n = fft.next_fast_len(mirrored.shape[1] + g - 1, real=True)
    full = fft.irfft(fft.rfft(mirrored, n, axis=1) * fft.rfft(kernel, n), n, axis=1)  # (R, n) linear convolution
    start = g - 1 + g // 2  # the "valid" part starts at G − 1; the centred window G // 2 after it
    return full[:, start : start + g]


def _interpolate(curves: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Curves (R, G) sampled at i / (G − 1), read by linear interpolation at ``points``: (R, P)."""
    g = curves.shape[1]
    index = np.clip((points * (g - 1)).astype(np.int64), 0, g - 2)
    weight = (points - index / (g - 1)) * (g - 1)
    return curves[:, index] * (1 - weight) + curves[:, index + 1] * weight
