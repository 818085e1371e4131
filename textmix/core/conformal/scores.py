"""The built-in nonconformity scores: LAC, APS, RAPS and SAPS."""

from __future__ import annotations

import math

import torch

from textmix.core.conformal.base import ConformalScore, ranked, threshold
from textmix.core.conformal.stored import state_number


class LAC(ConformalScore):
    """Least ambiguous set-valued classifier (Sadinle, Lei & Wasserman, JASA 2019): s = 1 − p_y.
    Smallest average sets; coverage can be uneven across easy and hard examples."""

    name = "lac"
    can_randomize = False
    binary_needs_randomizing = False
    score_range = (0.0, 1.0)

    def label_scores(self, probs, u):
        return 1 - probs

    def true_scores(self, probs, labels, u):
        return 1 - probs.gather(1, labels[:, None]).squeeze(1)  # the same float operation, one label only


class APS(ConformalScore):
    """Adaptive prediction sets (Romano, Sesia & Candès, NeurIPS 2020): the probability mass of the
    labels ranked above y plus u·p_y (u = 1: the mass up to and including y)."""

    name = "aps"
    score_range = (0.0, 1.0)

    def label_scores(self, probs, u):
        return self.ranked_scores(*ranked(probs)[1:], u)

    @staticmethod
    def ranked_scores(p_sorted, ranks, u):
        """The scores from :func:`ranked`'s sorted probabilities and ranks (a subclass sorts once)."""
        mass = torch.cumsum(p_sorted, dim=1)  # (N, K): the mass up to and including each rank
        # the last rank holds exactly the whole mass (x / x == 1 in IEEE arithmetic): the score of a
        # last-ranked label is 1.0 at calibration and at prediction alike, never 1 ± one rounding step,
        # so a threshold at the full mass cannot drop a true label that sums to a hair above it
        mass = mass / mass[:, -1:]
        before = torch.cat([torch.zeros_like(mass[:, :1]), mass[:, :-1]], dim=1)  # mass ranked above
        u = u[:, None]
        return torch.where(u == 1, mass, before + u * p_sorted).gather(1, ranks)

    def true_scores(self, probs, labels, u):
        return self.true_scores_and_ranks(probs, labels, u)[0]

    @staticmethod
    def true_scores_and_ranks(probs, labels, u) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) the true labels' scores and (N,) their 0-based ranks: :meth:`ranked_scores`' float
        operations on the true label's entries only (calibration needs no other label's score)."""
        _, p_sorted, ranks = ranked(probs)
        rank = ranks.gather(1, labels[:, None])  # (N, 1)
        mass = torch.cumsum(p_sorted, dim=1)  # (N, K)
        total = mass[:, -1:]
        at = mass.gather(1, rank) / total  # the mass up to and including y
        before = torch.where(rank > 0, mass.gather(1, (rank - 1).clamp(min=0)) / total, 0.0)  # ranked above y
        u = u[:, None]
        return torch.where(u == 1, at, before + u * p_sorted.gather(1, rank)).squeeze(1), rank.squeeze(1)


class RAPS(APS):
    """Regularized APS (Angelopoulos, Bates, Malik & Jordan, ICLR 2021): APS + λ·(o(y) − k_reg)⁺,
    o(y) the 1-based rank of y. Unless given, k_reg and λ are tuned on a share of the calibration
    data with the paper's rule: k_reg the ⌈(n+1)(1−α)⌉-th smallest true-label rank, λ the value of
    {0.001, 0.01, 0.1, 0.2, 0.5} with the smallest mean set size.

    Args:
        k_reg: rank from which labels are penalized (None: tuned).
        lam: penalty per rank λ (None: tuned).
    """

    name = "raps"
    LAMBDAS = (0.001, 0.01, 0.1, 0.2, 0.5)
    score_range = (0.0, math.inf)

    def __init__(self, randomized: bool = False, k_reg: int | None = None, lam: float | None = None):
        super().__init__(randomized)
        self.k_reg, self.lam = k_reg, lam

    def label_scores(self, probs, u):
        _, p_sorted, ranks = ranked(probs)  # one sort for the APS part and the penalty
        return self.penalized(self.ranked_scores(p_sorted, ranks, u), ranks, self.lam)

    def true_scores(self, probs, labels, u):
        aps_scores, rank = self.true_scores_and_ranks(probs, labels, u)
        return self.penalized(aps_scores, rank, self.lam)

    def penalized(self, aps_scores, ranks, lam):
        return aps_scores + lam * (ranks + 1 - self.k_reg).clamp(min=0)  # (N, K)

    def needs_tuning(self) -> bool:
        return self.k_reg is None or self.lam is None

    def tune(self, probs, labels, alpha) -> None:
        _, p_sorted, ranks = ranked(probs)
        true_rank = ranks.gather(1, labels[:, None]).squeeze(1).numpy() + 1
        if self.k_reg is None:
            self.k_reg = int(min(threshold(true_rank, alpha), probs.shape[1]))
        if self.lam is None:
            aps_scores = self.ranked_scores(p_sorted, ranks, torch.ones(len(probs), dtype=torch.float64))
            sizes = {}
            for lam in self.LAMBDAS:  # the APS scores and ranks are the same for every λ: sorted once
                scores = self.penalized(aps_scores, ranks, lam)
                limit = threshold(scores.gather(1, labels[:, None]).squeeze(1).numpy(), alpha)
                sizes[lam] = float((scores <= limit).sum(1).double().mean())
            self.lam = min(self.LAMBDAS, key=lambda lam: sizes[lam])  # the first of equal sizes: the smallest λ

    def state_dict(self) -> dict:
        return {**super().state_dict(), "k_reg": self.k_reg, "lam": self.lam}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.k_reg, self.lam = state_number(state, "k_reg", 0, integer=True), state_number(state, "lam", 0)


class SAPS(ConformalScore):
    """Sorted adaptive prediction sets (Huang et al., ICML 2024): only the largest probability is
    used; s = u·p_max for the top label, else p_max + (o(y) − 2 + u)·λ.

    Args:
        lam: weight λ of the rank.
    """

    name = "saps"
    score_range = (0.0, math.inf)

    def __init__(self, randomized: bool = False, lam: float = 0.2):
        super().__init__(randomized)
        if not (lam > 0 and math.isfinite(lam)):
            raise ValueError(f"SAPS lambda must be > 0, got {lam}")
        self.lam = lam

    def label_scores(self, probs, u):
        _, p_sorted, ranks = ranked(probs)
        top, u = p_sorted[:, :1], u[:, None]
        return torch.where(ranks == 0, u * top, top + (ranks.double() - 1 + u) * self.lam)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "lam": self.lam}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.lam = state_number(state, "lam", 1e-12)


__all__ = ["APS", "LAC", "RAPS", "SAPS"]
