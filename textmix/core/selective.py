"""Selective prediction (Geifman & El-Yaniv 2017): accept the most confident predictions, abstain
on the rest. The risk–coverage curve, its area (AURC), the excess over the best possible ranking
(E-AURC), accuracy at a coverage, and thresholds for a target coverage or risk. numpy only.

Ties: examples with equal scores are accepted or rejected together, so the curve has one point
per distinct score; a constant score gives a flat curve at the overall risk, and AURC = that risk.
A coverage that ends inside a group of tied scores takes the needed share of that group at the
group's accuracy (the expected value over random tie-breaking), so no result depends on row order.
"""

from __future__ import annotations

import numpy as np


def _groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order by descending score, group id of each position in that order: equal scores share one).
    Tied scores may come in any order (NumPy's default sort, twice as fast as a stable one on 10⁷
    scores): every result here counts a tie group as a whole, in integers, so none depends on it."""
    order = np.argsort(-scores)
    ranked = scores[order]
    return order, np.concatenate([[0], np.cumsum(ranked[1:] != ranked[:-1])])


def risk_coverage(scores, correct) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coverage (G,), risk (G,), threshold (G,)): accepting every example with score >= threshold
    covers that share of the examples with that error rate; G = number of distinct scores."""
    scores, errors = np.asarray(scores, dtype=np.float64), ~np.asarray(correct, dtype=bool)
    order, group = _groups(scores)
    ends = np.flatnonzero(np.diff(np.append(group, group[-1] + 1)))  # last position of each group
    accepted = ends + 1
    return accepted / len(scores), np.cumsum(errors[order])[ends] / accepted, scores[order][ends]


def aurc(scores, correct) -> float:
    """Area under the risk–coverage curve: the mean, over examples, of the risk at which each is accepted."""
    coverage, risk, _ = risk_coverage(scores, correct)
    sizes = np.diff(np.concatenate([[0.0], coverage]))  # share of examples in each group
    return float((sizes * risk).sum())


def optimal_aurc(correct) -> float:
    """AURC of the best ranking (every correct prediction before every error)."""
    correct = np.asarray(correct, dtype=bool)
    ideal = np.where(correct, 1.0, 0.0) + np.linspace(0, 0.5, len(correct))  # distinct, correct first
    return aurc(ideal, correct)


def accuracy_at_coverage(scores, correct, coverage: float) -> float:
    """Accuracy of the ceil(coverage · N) most confident predictions (a tie group cut by that count
    counts at its own accuracy)."""
    scores, correct = np.asarray(scores, dtype=np.float64), np.asarray(correct, dtype=bool)
    order, group = _groups(scores)
    keep = int(np.ceil(coverage * len(scores)))
    return float(_hits_at(correct[order], group, np.array([keep]))[0] / keep)


def _hits_at(ranked: np.ndarray, group: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Expected correct predictions among the first ``keep`` (array of counts ≥ 1) of the ranking:
    whole tie groups before the cut, the group the cut falls in pro rata."""
    hits = np.cumsum(ranked)  # (N,)
    starts = np.flatnonzero(np.append(True, group[1:] != group[:-1]))  # first position of each group
    ends = np.append(starts[1:], len(ranked))  # one past its last
    g = group[keep - 1]  # the group of the last accepted position
    before = np.where(starts[g] > 0, hits[starts[g] - 1], 0)
    inside = hits[ends[g] - 1] - before
    return before + inside * (keep - starts[g]) / (ends[g] - starts[g])


def threshold_for(scores, correct, coverage: float | None = None, risk: float | None = None) -> float:
    """The lowest score threshold whose accepted set covers at least ``coverage``, or the lowest whose
    risk stays at or below ``risk`` (for ``predict --abstain-below``, chosen on validation)."""
    cov, rsk, thresholds = risk_coverage(scores, correct)
    if (coverage is None) == (risk is None):
        raise ValueError("give exactly one of coverage and risk")
    ok = cov >= coverage if coverage is not None else rsk <= risk
    if not ok.any():
        return float("inf")  # no threshold reaches the risk: abstain on everything
    return float(thresholds[np.flatnonzero(ok)[0] if coverage is not None else np.flatnonzero(ok)[-1]])


COVERAGE_KEYS = ("coverage", "threshold", "risk")


def coverage_table(scores, correct, points: int = 100) -> dict[str, list[float]]:
    """The risk–coverage curve at coverages 1/points, 2/points, ..., 1: for each, the threshold that
    reaches it (lowest score accepted) and the risk there. Compact enough to keep beside a model."""
    scores, correct = np.asarray(scores, dtype=np.float64), np.asarray(correct, dtype=bool)
    order, group = _groups(scores)
    keep = np.array([max(1, int(np.ceil(k / points * len(scores)))) for k in range(1, points + 1)])
    hits = _hits_at(correct[order], group, keep)
    return {
        "coverage": [k / points for k in range(1, points + 1)],
        "threshold": [float(t) for t in scores[order][keep - 1]],
        "risk": [float(r) for r in 1 - hits / keep],
    }


def check_coverage_table(table) -> dict[str, list[float]]:
    """A stored ``coverage_table`` read back, checked: three equal-length lists of finite numbers,
    coverage rising within (0, 1], risk within [0, 1], thresholds (top probabilities) falling within
    [0, 1]. ValueError naming what is wrong otherwise."""
    if not isinstance(table, dict) or any(not isinstance(table.get(key), list) for key in COVERAGE_KEYS):
        raise ValueError(f"a mapping of {', '.join(COVERAGE_KEYS)} to lists")
    try:
        columns = {key: np.asarray(table[key], dtype=np.float64) for key in COVERAGE_KEYS}
    except (TypeError, ValueError):
        raise ValueError("the lists must hold numbers") from None
    if len({len(c) for c in columns.values()}) != 1 or not len(columns["coverage"]):
        raise ValueError("coverage, threshold and risk must be non-empty lists of equal length")
    if any(c.ndim != 1 or not np.isfinite(c).all() for c in columns.values()):
        raise ValueError("coverage, threshold and risk must hold finite numbers")
    for key in COVERAGE_KEYS:
        if (columns[key] < 0).any() or (columns[key] > 1).any():
            raise ValueError(f"{key} must lie in [0, 1]")
    if (np.diff(columns["coverage"]) <= 0).any() or (np.diff(columns["threshold"]) > 0).any():
        raise ValueError("coverage must rise and the threshold fall from row to row")
    return {key: columns[key].tolist() for key in COVERAGE_KEYS}


def pick_threshold(table: dict, coverage: float | None = None, risk: float | None = None) -> tuple[float, float, float]:
    """(threshold, coverage, risk) from a ``coverage_table``: the smallest tabulated coverage >= the
    target coverage, or the largest coverage whose risk is <= the target risk."""
    if (coverage is None) == (risk is None):
        raise ValueError("give exactly one of coverage and risk")
    rows = list(zip(table["threshold"], table["coverage"], table["risk"]))
    if coverage is not None:
        return next((row for row in rows if row[1] >= coverage - 1e-12), rows[-1])
    fitting = [row for row in rows if row[2] <= risk + 1e-12]
    return fitting[-1] if fitting else (float("inf"), 0.0, 0.0)


def selective_report(scores, correct) -> dict[str, float]:
    """aurc, eaurc (AURC − optimal AURC), accuracy_at_80 and accuracy_at_90 (one sort)."""
    scores, correct = np.asarray(scores, dtype=np.float64), np.asarray(correct, dtype=bool)
    n = len(scores)
    order, group = _groups(scores)
    ranked = correct[order]
    ends = np.flatnonzero(np.append(group[1:] != group[:-1], True))  # last position of each tie group
    accepted = ends + 1
    risk = np.cumsum(~ranked)[ends] / accepted
    value = float((np.diff(accepted, prepend=0) * risk).sum() / n)
    # the best ranking accepts the c correct predictions first: risk (i − c) / i after that
    c, i = int(correct.sum()), np.arange(1, n + 1)
    optimal = float((np.maximum(i - c, 0) / i).sum() / n)
    keep = np.array([int(np.ceil(0.8 * n)), int(np.ceil(0.9 * n))])
    at = _hits_at(ranked, group, keep) / keep
    return {"aurc": value, "eaurc": value - optimal, "accuracy_at_80": float(at[0]), "accuracy_at_90": float(at[1])}
