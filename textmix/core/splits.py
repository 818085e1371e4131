"""Seeded, stratified index splits (pure numpy, so every rank and every run carves the same)."""

from __future__ import annotations

import numpy as np

from textmix.core.errors import DataError


def stratified_split(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held_out) with ``round(fraction · n_c)`` of each class held out.

    Args:
        labels: (N,) integer labels.
        fraction: share of each class to hold out, in (0, 1).
        seed: numpy seed; the same seed always gives the same split.

    Returns:
        Two sorted int64 index arrays that partition range(N).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        held.append(members[: int(round(fraction * len(members)))])
    held_out = np.sort(np.concatenate(held)).astype(np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out).astype(np.int64)
    if len(kept) == 0 or len(held_out) == 0:
        classes, counts = np.unique(labels, return_counts=True)
        needed = int(np.ceil(0.5 / min(fraction, 1 - fraction)))  # round(fraction · n) >= 1 and <= n − 1
        raise DataError(
            f"a {fraction:.0%} stratified split of {len(labels)} examples in {len(classes)} classes leaves an empty "
            f"part: the classes have {counts.min()} to {counts.max()} examples, and a class needs at least "
            f"{needed} to give one to each part; add examples or merge rare classes"
        )
    return kept, held_out


def kfold_test_indices(labels, n_folds: int, fold: int, seed: int) -> np.ndarray:
    """Test indices of fold ``fold`` of a seeded stratified ``n_folds``-fold partition."""
    from sklearn.model_selection import StratifiedKFold

    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds}")
    labels = np.asarray(labels)
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        if k == fold:
            return np.sort(test).astype(np.int64)
    raise ValueError(f"fold must be in [0, {n_folds - 1}], got {fold}")


def stratified_subset(labels, size: int, seed: int) -> np.ndarray:
    """Indices of a seeded stratified subset of about ``size`` of the N examples (0 < size < N;
    round(size / N · n_c) of each class c): what ``data.max_train_examples`` trains on, in every task."""
    labels = np.asarray(labels)
    if not 0 < size < len(labels):
        raise ValueError(f"a subset needs 0 < size < {len(labels)}, got {size}")
    _, keep = stratified_split(labels, size / len(labels), seed)
    return keep
