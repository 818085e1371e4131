"""Choosing a calibrator honestly: validation metrics from a cross-fit, not from the data a
calibrator was fitted on (a matrix or isotonic calibrator can fit a small validation split almost
perfectly and still be worse on test).

Each calibrator is fitted k times, on k − 1 folds of the validation split, and predicts the held-out
fold; the out-of-fold probabilities of all N examples are scored together. The folds are stratified
(plain k-fold when a class has fewer than k examples) and seeded, so the choice is deterministic.
"""

from __future__ import annotations

import numpy as np

from textmix.core.calibrators.base import make_calibrator
from textmix.core.errors import ArgumentError
from textmix.core.metrics import calibration_report

FOLDS = 5


def can_crossfit(n: int) -> bool:
    """Whether ``n`` validation examples make at least two folds of two."""
    return min(FOLDS, n // 2) >= 2


def crossfit_probs(name, logits, labels, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities (N, K) of calibrator ``name`` (a registered name, or a Calibrator
    class: a program's own that it did not register) on validation logits and labels."""
    from sklearn.model_selection import KFold, StratifiedKFold

    z, y = np.asarray(logits), np.asarray(labels)
    folds = min(folds, len(y) // 2)
    if folds < 2:
        raise ArgumentError(f"a cross-fit of calibrators needs at least 4 validation examples, got {len(y)}")
    counts = np.bincount(y, minlength=z.shape[1])
    splitter = StratifiedKFold if counts[counts > 0].min() >= folds else KFold
    out = np.empty(z.shape, dtype=np.float64)
    for fit, held in splitter(n_splits=folds, shuffle=True, random_state=seed).split(z, y):
        out[held] = (make_calibrator(name) if isinstance(name, str) else name()).fit(z[fit], y[fit])(z[held])
    return out


def crossfit_reports(names, logits, labels, n_bins: int = 15, seed: int = 0) -> dict[str, dict]:
    """name → the metrics of its out-of-fold validation probabilities (``names``: registered names
    or Calibrator classes, keyed by their ``name``)."""
    return {
        name if isinstance(name, str) else name.name: calibration_report(
            crossfit_probs(name, logits, labels, seed=seed), labels, n_bins
        )
        for name in names
    }


def choose_calibrator(setting: str, names: list[str], crossfit: dict[str, dict] | None) -> str | None:
    """The calibrator to keep with a model: ``setting`` itself, or for ``auto`` the one of ``names``
    with the lowest cross-fitted validation NLL (the only one when there is one; None for none)."""
    if not names:
        return None
    if setting != "auto":
        return setting
    if len(names) == 1:
        return names[0]
    return min(names, key=lambda name: crossfit[name]["nll"])
