"""Split conformal prediction sets: a nonconformity score of every label, a threshold from held-out
calibration data, and the set of labels whose score is at most the threshold.

    from textmix import ConformalPredictor
    predictor = ConformalPredictor("lac", alpha=0.1).fit(cal_probs, cal_labels)   # any model's probabilities
    sets = predictor.predict(test_probs)           # (N, K) bool: label k is in example i's set

The threshold is the ⌈(n + 1)(1 − α)⌉-th smallest of the n calibration scores (of their true
labels), exactly; when that rank exceeds n the threshold is infinite and every set holds every
label. For exchangeable calibration and test data the sets then cover the true label with
probability at least 1 − α (and, for continuous scores, at most 1 − α + 1/(n + 1)). The
class-conditional (Mondrian) variant takes one threshold per class from that class's calibration
examples, so each class is covered at 1 − α. A new score is one subclass of :class:`ConformalScore`
with ``name`` and ``label_scores``, registered with :func:`register_score`.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import torch

from textmix.core.errors import ArgumentError
from textmix.core.registry import Registry


class ConformalScore:
    """How unusual each label is for each example (larger: less plausible).

    Args:
        randomized: break the discreteness of the score with u ~ U(0, 1) per example (APS, RAPS,
            SAPS): exact coverage 1 − α on average instead of at least 1 − α; sets may be empty.
    """

    name: ClassVar[str]
    can_randomize: ClassVar[bool] = True
    # a non-randomized score whose value is the cumulative mass of the labels (APS, RAPS, SAPS): on two
    # classes every second-ranked label scores the whole mass (1), so once the error rate exceeds α
    # every set holds both labels; refused there, as MAPIE does
    binary_needs_randomizing: ClassVar[bool] = True
    score_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)  # every value a score can take

    def __init__(self, randomized: bool = False):
        if randomized and not self.can_randomize:
            raise ArgumentError(f"conformal score {self.name} has no randomized variant")
        self.randomized = randomized

    def check_classes(self, num_classes: int, fix: str = "randomized: true") -> None:
        """Refuse a score that cannot give informative sets for ``num_classes`` labels."""
        if num_classes == 2 and self.binary_needs_randomizing and not self.randomized:
            raise ArgumentError(
                f"conformal score {self.name} without randomization puts both labels in nearly every set of a "
                f"two-class task; use lac (the default) or {fix}"
            )

    def label_scores(self, probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(N, K) float64 probabilities and (N,) uniforms (ones when not randomized) → (N, K) scores."""
        raise NotImplementedError

    def true_scores(self, probs: torch.Tensor, labels: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(N,) the scores of the true labels; a score with a closed form for one label overrides this
        (LAC) so that calibration does not score every label of every example."""
        return self.label_scores(probs, u).gather(1, labels[:, None]).squeeze(1)

    def needs_tuning(self) -> bool:
        """Whether settings are left to :meth:`tune` (then a share of calibration data tunes them)."""
        return False

    def tune(self, probs: torch.Tensor, labels: torch.Tensor, alpha: float) -> None:
        """Choose the score's own settings on a tuning split (RAPS); nothing by default."""

    def state_dict(self) -> dict:
        return {"randomized": self.randomized}

    def load_state_dict(self, state: dict) -> None:
        randomized = state["randomized"]
        if not isinstance(randomized, bool) or (randomized and not self.can_randomize):
            allowed = "true or false" if self.can_randomize else "false (it has no randomized variant)"
            raise ValueError(f"{self.name} 'randomized' must be {allowed}, got {randomized!r}")
        self.randomized = randomized


TUNE_ROWS_PER_ALPHA = 10  # a tuned setting rests on at least 10 examples beyond its quantile


def ranked(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(order, sorted probs, rank of every label) with labels in descending probability, ties by
    label id: ``order[i, r]`` is the label at rank r (0-based), ``rank[i, k]`` the rank of label k.

    NumPy's default sort (vectorized, 4-5× torch's stable sort here) orders every row whose
    probabilities are distinct exactly as a stable sort does; the rows with a tie are sorted again
    stably, so ties always go by label id."""
    p = probs.numpy()  # (N, K) float64
    order = np.argsort(-p, axis=1)  # (N, K)
    p_sorted = np.take_along_axis(p, order, axis=1)
    tied = (p_sorted[:, 1:] == p_sorted[:, :-1]).any(axis=1)  # (N,)
    if tied.any():
        order[tied] = np.argsort(-p[tied], axis=1, kind="stable")
        p_sorted[tied] = np.take_along_axis(p[tied], order[tied], axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(p.shape[1]), axis=1)
    return torch.from_numpy(order), torch.from_numpy(p_sorted), torch.from_numpy(ranks)


def threshold(scores: np.ndarray, alpha: float) -> float:
    """The ⌈(n + 1)(1 − α)⌉-th smallest of ``scores`` (inf when that exceeds n)."""
    n = len(scores)
    k = rank_of(n, alpha)
    return float("inf") if k > n else float(np.partition(np.asarray(scores, dtype=np.float64), k - 1)[k - 1])


def rank_of(n: int, alpha: float) -> int:
    """⌈(n + 1)(1 − α)⌉: the rank of the threshold among n calibration scores."""
    return math.ceil((n + 1) * (1 - alpha) - 1e-9)  # no float noise above an exact integer


def smallest_alpha(n: int) -> float:
    """The smallest α whose threshold is finite with n calibration scores: 1 / (n + 1)."""
    return 1 / (n + 1)


def check_calibration_size(n: int, alpha: float, what: str = "calibration examples") -> None:
    """Refuse an α whose threshold would be infinite (sets of every label) with n scores."""
    if n == 0:
        raise ArgumentError(f"there are no {what}: every set would hold every label; Mondrian sets need "
                            "calibration examples of every class (or drop mondrian)")  # fmt: skip
    if rank_of(n, alpha) > n:
        raise ArgumentError(
            f"conformal alpha {alpha:g} needs at least {math.ceil(1 / alpha - 1 - 1e-9)} {what}, got {n}: every "
            f"set would hold every label; use alpha >= {smallest_alpha(n):.3g} or more calibration data"
        )


def as_probs(probs) -> torch.Tensor:
    p = torch.from_numpy(np.asarray(probs, dtype=np.float64)) if not isinstance(probs, torch.Tensor) else probs
    p = p.detach().cpu().double()
    if p.dim() != 2 or p.shape[1] < 2:
        raise ArgumentError(f"conformal sets need probabilities of shape (N, K), K >= 2; got {tuple(p.shape)}")
    return p


class ConformalPredictor:
    """A score, a miscoverage level α and the threshold(s) fitted on calibration data.

    Example (probabilities of any model; here MR validation and test predictions)::

        predictor = ConformalPredictor("lac", alpha=0.1).fit(val_probs, val_labels)
        sets = predictor.predict(test_probs)   # (N, K) bool: a row with one True is a sure answer

    Args:
        score: the nonconformity score, or its name (lac, aps, raps, saps; non-randomized).
        alpha: target miscoverage, in (0, 1): sets cover the true label with probability >= 1 − α.
        mondrian: one threshold per class (class-conditional coverage) instead of one for all.
        seed: seed of the uniforms of randomized scores (calibration and prediction draw their own).
        tune_fraction: share of the calibration data a score with settings to tune (RAPS) uses for
            them; the rest sets the threshold.
    """

    def __init__(self, score: ConformalScore | str, alpha: float, mondrian: bool = False, seed: int = 0,
                 tune_fraction: float = 0.2):  # fmt: skip
        score = make_score(score) if isinstance(score, str) else score
        if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ArgumentError(f"conformal alpha must be in (0, 1), got {alpha}")
        self.score, self.alpha, self.mondrian, self.seed = score, alpha, mondrian, seed
        self.tune_fraction = tune_fraction
        self.thresholds: list[float] | None = None  # one, or one per class
        self.calibration_rows: np.ndarray | None = None  # the rows the thresholds came from

    def _uniforms(self, n: int, stream: int) -> torch.Tensor:
        if not self.score.randomized:
            return torch.ones(n, dtype=torch.float64)
        return torch.rand(n, generator=torch.Generator().manual_seed(self.seed * 1000 + stream), dtype=torch.float64)

    def true_label_scores(self, probs, labels, stream: int = 1) -> np.ndarray:
        """(N,) scores of the true labels (the uniforms of randomized scores from ``stream``)."""
        p, y = as_probs(probs), torch.as_tensor(np.asarray(labels)).long()
        return self.score.true_scores(p, y, self._uniforms(len(p), stream)).numpy()

    def prepare(self, probs, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """Check the score against K labels, tune its settings on a share of the calibration data
        (RAPS; a warning when that share is too small) and return the rows left to calibrate on."""
        p, y = as_probs(probs), torch.as_tensor(np.asarray(labels)).long()
        if len(y) != len(p) or len(p) == 0:
            raise ArgumentError(f"calibration needs probabilities (N, K) and N labels, got {tuple(p.shape)}, {len(y)}")
        self.score.check_classes(p.shape[1])
        rows = np.arange(len(p))
        if not self.score.needs_tuning():
            self.calibration_rows = rows
            return p, y  # every row calibrates: no copy
        order = np.random.default_rng(self.seed).permutation(len(p))
        cut = max(1, int(round(self.tune_fraction * len(p))))
        tune, rows = torch.from_numpy(order[:cut]), np.sort(order[cut:])
        if cut < TUNE_ROWS_PER_ALPHA / self.alpha:
            warnings.warn(f"conformal score {self.score.name} tunes its settings on {cut} examples, fewer than "
                          f"{math.ceil(TUNE_ROWS_PER_ALPHA / self.alpha)} (10 / alpha): its sets may be empty or "
                          "too large; give more calibration data or fix its settings", stacklevel=3)  # fmt: skip
        self.score.tune(p[tune], y[tune], self.alpha)
        self.calibration_rows = rows
        return p[rows], y[rows]

    def fit(self, probs, labels) -> ConformalPredictor:
        """Thresholds from calibration probabilities (N, K) and labels (N,). Refuses a score that
        cannot inform on K labels and an α too small for the calibration size (for Mondrian sets,
        for any class's size, a class absent from calibration included)."""
        p, y = self.prepare(probs, labels)
        scores = self.true_label_scores(p, y)
        if self.mondrian:
            groups = [scores[(y == k).numpy()] for k in range(p.shape[1])]
            for k, group in enumerate(groups):
                check_calibration_size(len(group), self.alpha, f"calibration examples of class {k}")
            self.thresholds = [threshold(group, self.alpha) for group in groups]
        else:
            check_calibration_size(len(scores), self.alpha)
            self.thresholds = [threshold(scores, self.alpha)]
        return self

    def predict(self, probs) -> np.ndarray:
        """(N, K) bool: label k belongs to example i's set."""
        if self.thresholds is None:
            raise ArgumentError("fit the conformal predictor on calibration data first")
        p = as_probs(probs)
        scores = self.score.label_scores(p, self._uniforms(len(p), stream=2))
        limits = torch.tensor(self.thresholds, dtype=torch.float64)
        return (scores <= (limits[None, :] if self.mondrian else limits[0])).numpy()

    @classmethod
    def from_sorted_scores(
        cls, score: ConformalScore, alpha: float, sorted_scores, mondrian: bool, num_classes: int
    ) -> ConformalPredictor:
        """A fitted predictor at any α from the sorted calibration scores of the true labels (a list,
        or one list per class for Mondrian sets), as ``textmix.json`` keeps them."""
        predictor = cls(score, alpha, mondrian)
        groups = sorted_scores if mondrian else [sorted_scores]
        score.check_classes(num_classes, "another method the model stores")
        for k, group in enumerate(groups):
            check_calibration_size(len(group), alpha, f"calibration examples of class {k}" if mondrian else
                                   "calibration examples")  # fmt: skip
        predictor.thresholds = [threshold(np.asarray(g, dtype=np.float64), alpha) for g in groups]
        return predictor


SCORES: Registry[type[ConformalScore]] = Registry("conformal method")


def register_score(cls: type[ConformalScore]) -> type[ConformalScore]:
    """Make a conformal score known by ``cls.name`` (recipes, ``textmix calibrate``)."""
    return SCORES.register(cls)


def score_names() -> tuple[str, ...]:
    return SCORES.names()


def make_score(name: str, randomized: bool = False) -> ConformalScore:
    return SCORES.get(name)(randomized=randomized)
