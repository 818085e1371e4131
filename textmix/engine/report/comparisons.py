"""Paired comparisons of one report table, corrected for multiplicity within the table.

Each comparison is a vector of paired differences (one per repetition: seed, or seed × split
seed). Its raw 95% interval is the Student-t interval of the mean difference; its p-value the
two-sided one-sample t-test of mean 0. Within a table (the family) the p-values are adjusted
with Holm's step-down method (Holm 1979: controls the family-wise error rate at 5% under any
dependence, uniformly more powerful than Bonferroni), and the adjusted interval is the Bonferroni
one (level 1 − 0.05 / m for m comparisons: simultaneous 95% coverage). A difference is
"resolved" only when its Holm-adjusted p-value is below 0.05. Fewer than 3 repetitions give
"too few seeds", never a number; intervals are clipped to the range a difference of the metric
can take. Example::

    family = Family()
    cell = family.add(np.array([0.010, 0.012, 0.008]), scale=100, bound=1.0)
    family.finish()
    str(cell)   # "+1.00 [0.50, 1.50] adj. [..] p 0.004 (Holm 0.004) resolved"
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

MIN_REPETITIONS = 3  # fewer: a t-interval over 2 values spans ±12.7 standard errors (t₁ = 12.7)
LEVEL = 0.05
TOO_FEW = "too few seeds"
FLOOR_NOTE = "‡"  # both compared values lie within their noise floor


@dataclass
class Comparison:
    """One paired comparison of a table (rendered after :meth:`Family.finish`)."""

    diff: np.ndarray
    scale: float = 100.0
    bound: float = np.inf  # |difference| cannot exceed this (the metric's high − low)
    within_floor: bool = False
    p: float | None = None
    adjusted: float | None = None
    family_size: int = 1
    done: bool = False

    def __str__(self) -> str:
        if not self.done:
            raise RuntimeError("a comparison is shown after Family.finish()")
        if np.isnan(self.diff).any() or len(self.diff) == 0:
            return "—"
        mean = f"{self.scale * self.diff.mean():+.2f}{FLOOR_NOTE if self.within_floor else ''}"
        if self.p is None:
            return f"{mean} ({TOO_FEW})"
        raw = self._interval(0.975)
        adjusted = self._interval(1 - LEVEL / (2 * self.family_size))
        verdict = "resolved" if self.adjusted < LEVEL else "not resolved"
        return f"{mean} {raw} adj. {adjusted} p {self.p:.3f} (Holm {self.adjusted:.3f}) {verdict}"

    def _interval(self, quantile: float) -> str:
        n = len(self.diff)
        half = stats.t.ppf(quantile, n - 1) * self.diff.std(ddof=1) / np.sqrt(n)
        low, high = np.clip([self.diff.mean() - half, self.diff.mean() + half], -self.bound, self.bound)
        return f"[{self.scale * low:.2f}, {self.scale * high:.2f}]"


@dataclass
class Family:
    """The comparisons of one table: add them, then :meth:`finish` adjusts their p-values."""

    members: list[Comparison] = field(default_factory=list)

    def add(self, diff, scale: float = 100.0, bound: float = np.inf, within_floor: bool = False) -> Comparison:
        comparison = Comparison(np.asarray(diff, dtype=float), scale, bound, within_floor)
        self.members.append(comparison)
        return comparison

    def finish(self) -> None:
        tested = [c for c in self.members if len(c.diff) >= MIN_REPETITIONS and not np.isnan(c.diff).any()]
        for c in tested:
            c.p = p_value(c.diff)
        for c, adjusted in zip(tested, holm([c.p for c in tested])):
            c.adjusted, c.family_size = adjusted, len(tested)
        for c in self.members:
            c.done = True


def p_value(diff: np.ndarray) -> float:
    """Two-sided paired t-test of mean 0 (1.0 when every difference is 0: nothing to detect)."""
    if np.all(diff == diff[0]):
        return 1.0 if diff[0] == 0 else 0.0
    return float(stats.ttest_1samp(diff, 0.0).pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down): the k-th smallest of m becomes max over j ≤ k of
    (m − j + 1) · p_(j), capped at 1."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p_values[i])
        adjusted[i] = min(running, 1.0)
    return adjusted.tolist()
