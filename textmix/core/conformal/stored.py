"""Stored conformal calibration is input (``textmix.json``'s ``conformal``): the score's settings and
the sorted calibration scores are checked before any set is made from them, so a damaged file is
named in one line instead of turning into empty sets, sets of every label, or a traceback.

Example::

    >>> groups = check_sorted_scores(make_score("lac"), [0.01, 0.2, 0.4], mondrian=False, num_classes=2)
"""

from __future__ import annotations

import math

import numpy as np

LOWEST_STEP = 1e-9  # float error allowed below a score's range (1 − p of a probability a hair above 1)


def state_number(state: dict, key: str, low: float, high: float = math.inf, integer: bool = False) -> float:
    """``state[key]`` as a finite number in [low, high] (a whole one with ``integer``); ValueError
    naming the key and the value otherwise (a quoted number or a boolean is not a number)."""
    value = state[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not low <= value <= high or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{key!r} must be {kind} in [{low:g}, {high:g}], got {value!r}")
    return int(value) if integer else float(value)


def check_sorted_scores(score, sorted_scores, mondrian: bool, num_classes: int) -> list[np.ndarray]:
    """The calibration scores of the true labels as stored (one list, or one per class for Mondrian
    sets), checked: one group per class, each non-empty, finite, inside the score's range and sorted.
    ValueError naming what is wrong otherwise. Returns the groups as float64 arrays."""
    groups = sorted_scores if mondrian else [sorted_scores]
    if not isinstance(groups, list) or (mondrian and len(groups) != num_classes):
        count = len(groups) if isinstance(groups, list) else type(groups).__name__
        raise ValueError(f"Mondrian scores need one group per class: {num_classes} classes, {count} groups")
    low, high = score.score_range
    checked = []
    for k, group in enumerate(groups):
        where = f"scores of class {k}" if mondrian else "scores"
        if (
            not isinstance(group, list)
            or not group
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in group)
        ):
            raise ValueError(f"{where} must be a non-empty list of numbers")
        values = np.asarray(group, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"{where} hold NaN or infinite values")
        if values.min() < low - LOWEST_STEP or values.max() > high + LOWEST_STEP:
            raise ValueError(f"{where} must lie in [{low:g}, {high:g}] for {score.name}, got "
                             f"{values.min():g} to {values.max():g}")  # fmt: skip
        if (np.diff(values) < 0).any():
            raise ValueError(f"{where} must be sorted from smallest to largest")
        checked.append(values)
    return checked
