"""Conformal sets under covariate shift: weighted split conformal (Tibshirani, Barber, Candès &
Ramdas, NeurIPS 2019, https://arxiv.org/abs/1904.06019).

    w_cal, w_test = domain_weights(cal_features, target_features)   # likelihood ratios, see below
    predictor = WeightedConformal("lac", alpha=0.1).fit(cal_probs, cal_labels, w_cal)
    sets = predictor.predict(test_probs, w_test)                    # (N, K) bool

When the inputs' distribution moves (p(x) → q(x)) but p(y | x) stays, the calibration scores are
reweighted by w(x) = q(x) / p(x): a test example x gets the threshold at level 1 − α of the
distribution putting mass w(X_i) / (Σ_j w(X_j) + w(x)) on each calibration score and the rest on +∞
(Tibshirani et al., Corollary 1). With every weight 1 this is the ⌈(n + 1)(1 − α)⌉-th smallest score
of plain split conformal. The ratio is estimated with a probabilistic classifier telling calibration
(source) from target inputs: w(x) = P(target | x) / P(source | x) · n_source / n_target (their §2.1),
here a logistic regression on standardized features (a model's pooled representation). Where the
threshold would need more mass than the calibration data holds, the set holds every label.
"""

from __future__ import annotations

import numpy as np
import torch

from textmix.core.conformal.base import ConformalScore, as_probs, make_score
from textmix.core.errors import ArgumentError


def domain_weights(source, target, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(weights of the source rows, weights of the target rows): estimated likelihood ratios
    q(x) / p(x) from a logistic regression of domain on standardized features (N, D)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1] or not len(source) or not len(target):
        raise ArgumentError(f"domain weights need features (N, D) of both domains, got {source.shape}, {target.shape}")
    x = np.concatenate([source, target])
    domain = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    classifier.fit(x, domain)
    p = np.clip(classifier.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    ratio = p / (1 - p) * len(source) / len(target)
    return ratio[: len(source)], ratio[len(source) :]


class WeightedConformal:
    """Split conformal sets with one threshold per test example from weighted calibration scores.

    Args:
        score: the nonconformity score or its name (non-randomized).
        alpha: target miscoverage, in (0, 1).
    """

    def __init__(self, score: ConformalScore | str, alpha: float):
        self.score = make_score(score) if isinstance(score, str) else score
        if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ArgumentError(f"conformal alpha must be in (0, 1), got {alpha}")
        if self.score.randomized:
            raise ArgumentError("weighted conformal sets take a non-randomized score")
        self.alpha = alpha
        self.sorted_scores: np.ndarray | None = None
        self.cumulative: np.ndarray | None = None  # running sum of the weights in score order

    def fit(self, probs, labels, weights) -> WeightedConformal:
        p, labels, weights = as_probs(probs), np.asarray(labels), np.asarray(weights, dtype=np.float64)
        if not len(p) == len(labels) == len(weights) or not len(p):
            raise ArgumentError(f"calibration needs N probabilities, labels and weights, got {len(p)}, "
                                f"{len(labels)}, {len(weights)}")  # fmt: skip
        if not np.isfinite(weights).all() or (weights <= 0).any():
            raise ArgumentError("conformal weights must be finite and > 0")
        self.score.check_classes(p.shape[1])
        ones = torch.ones(len(p), dtype=torch.float64)
        scores = self.score.true_scores(p, torch.from_numpy(labels.astype(np.int64)), ones).numpy()
        order = np.argsort(scores, kind="stable")
        self.sorted_scores, self.cumulative = scores[order], np.cumsum(weights[order])
        return self

    def thresholds(self, weights) -> np.ndarray:
        """(N,) the threshold of each test example of weight w: the smallest calibration score whose
        cumulative weight reaches (1 − α)(Σ w_i + w); inf where none does."""
        if self.sorted_scores is None:
            raise ArgumentError("fit the weighted conformal predictor on calibration data first")
        weights = np.asarray(weights, dtype=np.float64)
        if not np.isfinite(weights).all() or (weights <= 0).any():
            raise ArgumentError("conformal weights must be finite and > 0")
        needed = (1 - self.alpha) * (self.cumulative[-1] + weights)
        k = np.searchsorted(self.cumulative, needed * (1 - 1e-12), side="left")  # no float noise above a sum
        padded = np.append(self.sorted_scores, np.inf)
        return padded[np.minimum(k, len(self.sorted_scores))]

    def predict(self, probs, weights) -> np.ndarray:
        """(N, K) bool: label k is in test example i's set."""
        p = as_probs(probs)
        scores = self.score.label_scores(p, torch.ones(len(p), dtype=torch.float64)).numpy()
        return scores <= self.thresholds(weights)[:, None]


__all__ = ["WeightedConformal", "domain_weights"]
