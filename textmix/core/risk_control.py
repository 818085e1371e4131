"""Abstention and label sets with a finite-sample guarantee: Learn then Test (Angelopoulos, Bates,
Candès, Jordan & Lei, 2021, https://arxiv.org/abs/2110.01052).

    control = RiskControl("selective", epsilon=0.1, delta=0.1).fit(val_probs, val_labels)
    answered = control.accepts(test_probs)     # (N,) bool: answer these, abstain on the rest

With probability at least 1 − δ over the calibration data, the chosen threshold λ has risk at most
ε on new exchangeable data: for ``selective``, the error rate among the answered examples (answer
when the top probability is ≥ λ); for ``miscoverage``, the share of examples whose LAC-style set
{k : p_k ≥ λ} misses the true label. Each λ of a grid fixed before any data is seen is a hypothesis
"risk(λ) > ε". Its p-value is the binomial tail P(Bin(n_λ, ε) ≤ losses_λ) — the Bentkus p-value of
a 0/1 loss (LTT §3.2; Hoeffding's bound is never smaller, so the Hoeffding–Bentkus minimum is this
tail) — with n_λ the examples the risk is measured on (the answered ones for ``selective``: given
which examples are answered, their errors are independent draws at the conditional risk). A
family-wise procedure rejects hypotheses so that the chance of rejecting any true one is ≤ δ:

- ``fixed_sequence`` (default): the grid in its conservative-first order (fewest answers, largest
  sets) is cut into ``starts`` equal chains; each chain tests at δ / starts from its start and stops
  at its first p-value above that level (Bauer 1991; the multi-start variant of LTT §4 and MAPIE's
  ``FWERFixedSequenceTesting``); several starts keep a chain alive where the first thresholds answer
  too few examples to be tested;
- ``bonferroni``: every λ at δ / G.

The chosen λ is the rejected one last in that order (the most answers, the smallest sets); with none
rejected, ``selective`` abstains on everything and ``miscoverage`` keeps every label. Only counts per
λ are kept (:class:`RiskCounts`), so a model stores its calibration for any ε and δ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from textmix.core.errors import ArgumentError

GRID_POINTS = 200
PROCEDURES = ("fixed_sequence", "holm", "bonferroni")


def grid(points: int = GRID_POINTS) -> np.ndarray:
    """λ = sigmoid(t), t evenly spaced on [−9.2, 9.2] (λ from 1e−4 to 1 − 1e−4): fixed before any data,
    finest near 0 and 1 where confident models put most examples."""
    return 1 / (1 + np.exp(-np.linspace(-9.2, 9.2, points)))


@dataclass
class RiskCounts:
    """Per λ of the grid, in conservative-first order: the examples the risk is measured on and the
    losses among them (calibration data, no texts or labels)."""

    risk: str
    thresholds: np.ndarray  # (G,) λ
    n: np.ndarray  # (G,) int
    losses: np.ndarray  # (G,) int

    def to_json(self) -> dict:
        return {"thresholds": self.thresholds.tolist(), "n": self.n.tolist(), "losses": self.losses.tolist()}

    @classmethod
    def from_json(cls, risk: str, data: dict) -> RiskCounts:
        """Counts read back (``textmix.json``), checked: a damaged table is named, never used."""
        try:
            t, n, losses = (np.asarray(data[key], dtype=np.float64) for key in ("thresholds", "n", "losses"))
        except (KeyError, TypeError, ValueError) as error:
            raise ArgumentError(
                f"risk-control counts of {risk} are damaged ({type(error).__name__}: {error})"
            ) from None
        same = t.ndim == n.ndim == losses.ndim == 1 and len(t) == len(n) == len(losses) > 0
        if not same or not np.isfinite(t).all() or not np.isfinite(n).all() or not np.isfinite(losses).all():
            raise ArgumentError(
                f"risk-control counts of {risk} are damaged: three equal-length lists of finite numbers"
            )
        whole = (n == np.round(n)).all() and (losses == np.round(losses)).all()
        if not whole or (losses < 0).any() or (losses > n).any() or ((t < 0) | (t > 1)).any():
            raise ArgumentError(f"risk-control counts of {risk} are damaged: counts must be whole, 0 <= losses <= n, "
                                "thresholds in [0, 1]")  # fmt: skip
        steps = np.diff(t) * (-1 if RISKS[risk].descending else 1)
        if (steps <= 0).any():
            order = "falling" if RISKS[risk].descending else "rising"
            raise ArgumentError(f"risk-control counts of {risk} are damaged: thresholds must be {order}")
        return cls(risk, t, n.astype(np.int64), losses.astype(np.int64))


class Risk:
    """A risk: how a threshold acts on probabilities and what it counts on calibration data."""

    name: ClassVar[str]
    descending: ClassVar[bool]  # conservative-first order of λ: descending (selective) or ascending

    def counts(self, probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> RiskCounts:
        raise NotImplementedError


class Selective(Risk):
    """Answer when the top probability is ≥ λ; the risk is the error rate among answered examples."""

    name, descending = "selective", True

    def counts(self, probs, labels, thresholds):
        top = probs.max(1)
        wrong = np.sort(top[probs.argmax(1) != labels])
        answered = len(top) - np.searchsorted(np.sort(top), thresholds, side="left")  # top >= λ
        errors = len(wrong) - np.searchsorted(wrong, thresholds, side="left")
        return RiskCounts(self.name, thresholds, answered, errors)


class Miscoverage(Risk):
    """The set {k : p_k ≥ λ} (LAC's form); the risk is the share of sets without the true label."""

    name, descending = "miscoverage", False

    def counts(self, probs, labels, thresholds):
        true = np.sort(probs[np.arange(len(labels)), labels])
        misses = np.searchsorted(true, thresholds, side="left")  # p_y < λ
        return RiskCounts(self.name, thresholds, np.full(len(thresholds), len(labels)), misses)


RISKS: dict[str, Risk] = {r.name: r for r in (Selective(), Miscoverage())}


def p_values(counts: RiskCounts, epsilon: float) -> np.ndarray:
    """(G,) binomial-tail p-values of "risk(λ) > ε" (1 where nothing is measured)."""
    from scipy.stats import binom

    with np.errstate(divide="ignore", invalid="ignore"):
        p = binom.cdf(counts.losses, counts.n, epsilon)
    return np.where(counts.n > 0, np.minimum(p, 1.0), 1.0)


def rejected(p: np.ndarray, delta: float, procedure: str = "fixed_sequence", starts: int = 10) -> np.ndarray:
    """(G,) bool: the hypotheses (conservative-first order) the FWER procedure rejects at level δ."""
    out = np.zeros(len(p), dtype=bool)
    if procedure == "bonferroni":
        return p <= delta / len(p)
    if procedure == "holm":  # step down: the j-th smallest p-value at δ / (G − j), until the first failure
        order = np.argsort(p, kind="stable")
        passed = p[order] <= delta / (len(p) - np.arange(len(p)))
        out[order[: len(p) if passed.all() else int(np.argmin(passed))]] = True
        return out
    starts = min(starts, len(p))
    level, step = delta / starts, len(p) // starts
    for start in range(0, starts * step, step):
        i = start
        while i < len(p) and p[i] <= level:  # a chain stops at its first failure
            out[i] = True
            i += 1
    return out


@dataclass
class RiskControl:
    """A threshold with P(risk > ε) ≤ δ over the calibration data (see the module docstring).

    Args:
        risk: ``selective`` (abstention) or ``miscoverage`` (label sets).
        epsilon: the risk level ε, in (0, 1).
        delta: the allowed chance δ, in (0, 1), that the threshold's risk exceeds ε.
        procedure: ``fixed_sequence`` (multi-start) or ``bonferroni``.
        starts: chains of the fixed-sequence procedure.
    """

    risk: str
    epsilon: float
    delta: float = 0.1
    procedure: str = "fixed_sequence"
    starts: int = 10
    threshold: float | None = None  # the chosen λ: inf abstains on everything / 0 keeps every label
    counts: RiskCounts | None = None

    def __post_init__(self):
        if self.risk not in RISKS:
            raise ArgumentError(f"risk {self.risk!r} is unknown; use {' or '.join(RISKS)}")
        for name, value in (("epsilon", self.epsilon), ("delta", self.delta)):
            if not _level(value):
                raise ArgumentError(f"risk control {name}={value!r} must be in (0, 1), e.g. 0.1")
        if self.procedure not in PROCEDURES:
            raise ArgumentError(f"risk control procedure {self.procedure!r} is unknown; use {' or '.join(PROCEDURES)}")
        if not isinstance(self.starts, int) or self.starts < 1:
            raise ArgumentError(f"risk control starts={self.starts!r} must be an integer >= 1")

    @staticmethod
    def tabulate(risk: str, probs, labels, points: int = GRID_POINTS) -> RiskCounts:
        """The counts of ``risk`` on calibration probabilities (N, K) and labels (N,)."""
        probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
        if probs.ndim != 2 or len(probs) != len(labels) or len(labels) == 0:
            raise ArgumentError(
                f"risk control needs probabilities (N, K) and N labels, got {probs.shape}, {len(labels)}"
            )
        thresholds = grid(points)
        if RISKS[risk].descending:
            thresholds = thresholds[::-1].copy()
        return RISKS[risk].counts(probs, labels, thresholds)

    def fit(self, probs, labels) -> RiskControl:
        """The threshold certified on calibration probabilities and labels (Learn then Test)."""
        return self.fit_counts(self.tabulate(self.risk, probs, labels))

    def fit_counts(self, counts: RiskCounts) -> RiskControl:
        """Choose λ from tabulated counts (:meth:`tabulate`, or a model's stored ones)."""
        if counts.risk != self.risk:
            raise ArgumentError(f"counts of {counts.risk} cannot control {self.risk}")
        ok = rejected(p_values(counts, self.epsilon), self.delta, self.procedure, self.starts)
        self.counts = counts
        if ok.any():
            self.threshold = float(counts.thresholds[np.flatnonzero(ok)[-1]])
        else:
            self.threshold = float("inf") if RISKS[self.risk].descending else 0.0
        return self

    def _fitted(self) -> float:
        if self.threshold is None:
            raise ArgumentError("fit the risk control on calibration data first")
        return self.threshold

    def accepts(self, probs) -> np.ndarray:
        """(N,) bool: answer these examples (``selective``)."""
        return np.asarray(probs).max(1) >= self._fitted()

    def sets(self, probs) -> np.ndarray:
        """(N, K) bool: label k is in example i's set (``miscoverage``)."""
        return np.asarray(probs) >= self._fitted()

    @property
    def calibration(self) -> tuple[int, int]:
        """(n, losses) at the chosen λ on the calibration data ((0, 0) when none was rejected)."""
        where = np.flatnonzero(self.counts.thresholds == self.threshold) if self.counts is not None else []
        return (int(self.counts.n[where[0]]), int(self.counts.losses[where[0]])) if len(where) else (0, 0)


@dataclass
class RiskSettings:
    """``eval.risk_control``: abstention with a guarantee, e.g. {risk: [0.05, 0.1], delta: 0.1}.

    Attributes:
        risk: the levels ε of the error rate among answered examples.
        delta: the allowed chance δ that a threshold's risk exceeds its ε.
        procedure: fixed_sequence (default), holm or bonferroni.
    """

    risk: list = field(default_factory=list)
    delta: float = 0.1
    procedure: str = "fixed_sequence"

    @classmethod
    def parse(cls, values: dict) -> RiskSettings:
        """ValueError naming the key and what it must be."""
        if not isinstance(values, dict):
            raise ValueError(f"eval.risk_control={values!r} must be a mapping, e.g. {{risk: [0.05, 0.1], delta: 0.1}}")
        unknown = sorted(set(values) - {"risk", "delta", "procedure"})
        if unknown:
            raise ValueError(f"eval.risk_control has unknown keys {unknown}; use risk, delta, procedure")
        settings = cls(**values)
        levels = settings.risk
        if not isinstance(levels, list) or not all(_level(e) for e in levels):
            raise ValueError(f"eval.risk_control.risk={levels!r} must be a list of levels in (0, 1), e.g. [0.05, 0.1]")
        if not _level(settings.delta):
            raise ValueError(f"eval.risk_control.delta={settings.delta!r} must be in (0, 1), e.g. 0.1")
        if settings.procedure not in PROCEDURES:
            names = ", ".join(PROCEDURES)
            raise ValueError(f"eval.risk_control.procedure={settings.procedure!r} must be one of {names}")
        return settings

    def report(self, calibration_probs, calibration_labels, probs, labels) -> dict:
        """ε ("0.1") → the threshold chosen on the calibration rows and, on (probs, labels), the share
        answered (coverage) and the error rate among them (risk; None when nothing is answered)."""
        out = {}
        for epsilon in self.risk:
            control = RiskControl("selective", epsilon, self.delta, self.procedure).fit(
                calibration_probs, calibration_labels
            )
            answered = control.accepts(probs)
            errors = int(((np.asarray(probs).argmax(1) != np.asarray(labels)) & answered).sum())
            out[f"{epsilon:g}"] = {
                "threshold": control.threshold if np.isfinite(control.threshold) else None,
                "coverage": float(answered.mean()),
                "risk": errors / int(answered.sum()) if answered.any() else None,
                "n_answered": int(answered.sum()),
            }
        return out


def _level(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1


__all__ = ["RISKS", "RiskControl", "RiskCounts", "RiskSettings", "grid", "p_values", "rejected"]
