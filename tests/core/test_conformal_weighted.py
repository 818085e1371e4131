"""Weighted split conformal (Tibshirani et al. 2019): unit weights give plain split conformal's
sets exactly; on a synthetic covariate shift where plain sets under-cover, the weighted ones
recover 1 − α with the true likelihood ratio and with the one a domain classifier estimates."""

import numpy as np
import pytest

from textmix.core.conformal import ConformalPredictor
from textmix.core.conformal.weighted import WeightedConformal, domain_weights
from textmix.core.errors import ArgumentError

ALPHA = 0.1
SHIFT = np.array([1.5, 0.0])  # the target inputs' mean: N(SHIFT, I) against N(0, I)


def draw(n: int, target: bool, g: np.random.Generator):
    """Inputs, the model's probabilities and labels: the model is as sharp everywhere, the truth gets
    noisier with x₀, so the model is overconfident where the target inputs lie."""
    x = g.normal(size=(n, 2)) + (SHIFT if target else 0)
    w = np.array([[2.0, 0.0], [-1.0, 1.5], [-1.0, -1.5]])  # (K, D)
    z = x @ w.T
    model = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    zt = z / np.exp(0.8 * x[:, :1])
    truth = np.exp(zt) / np.exp(zt).sum(1, keepdims=True)
    y = (truth.cumsum(1) < g.uniform(size=(n, 1))).sum(1)
    return x, model, y


def covered(sets: np.ndarray, labels: np.ndarray) -> float:
    return float(sets[np.arange(len(labels)), labels].mean())


def true_ratio(x):
    return np.exp(x @ SHIFT - SHIFT @ SHIFT / 2)


def test_unit_weights_give_plain_split_conformal_sets():
    g = np.random.default_rng(0)
    _, p, y = draw(500, False, g)
    _, q, _ = draw(300, True, g)
    plain = ConformalPredictor("lac", ALPHA).fit(p, y).predict(q)
    weighted = WeightedConformal("lac", ALPHA).fit(p, y, np.ones(len(p))).predict(q, np.ones(len(q)))
    np.testing.assert_array_equal(plain, weighted)


def test_weighting_restores_coverage_under_covariate_shift():
    """Over 200 calibration / target draws: plain split conformal calibrated on the source covers the
    target well below 1 − α; weighted by the true ratio, and by the domain classifier's estimate,
    the mean coverage is back at 1 − α (within 1.5 points: Monte Carlo and the estimate's error)."""
    plain, oracle, estimated, sizes = [], [], [], []
    for trial in range(200):
        g = np.random.default_rng(trial)
        xs, p, y = draw(1000, False, g)
        xt, q, yt = draw(1000, True, g)
        plain.append(covered(ConformalPredictor("lac", ALPHA).fit(p, y).predict(q), yt))
        sets = WeightedConformal("lac", ALPHA).fit(p, y, true_ratio(xs)).predict(q, true_ratio(xt))
        oracle.append(covered(sets, yt))
        ws, wt = domain_weights(xs, xt, seed=trial)
        sets = WeightedConformal("lac", ALPHA).fit(p, y, ws).predict(q, wt)
        estimated.append(covered(sets, yt))
        sizes.append(sets.sum(1).mean())
    assert np.mean(plain) < 1 - ALPHA - 0.03, np.mean(plain)
    assert abs(np.mean(oracle) - (1 - ALPHA)) < 0.015, np.mean(oracle)
    assert abs(np.mean(estimated) - (1 - ALPHA)) < 0.015, np.mean(estimated)
    assert np.mean(sizes) < 3  # informative: not every label


def test_thresholds_by_hand_and_refusals():
    predictor = WeightedConformal("lac", 0.25)
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    predictor.fit(probs, np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 2.0, 1.0]))
    # scores 1 − p_y: 0.1, 0.3, 0.6, 0.2 → sorted 0.1 (w 1), 0.2 (1), 0.3 (1), 0.6 (2); cumulative 1, 2, 3, 5
    # a test weight 1: need 0.75 · 6 = 4.5 → 0.6; weight 3: 0.75 · 8 = 6 > 5 → inf (every label)
    np.testing.assert_allclose(predictor.thresholds(np.array([1.0, 3.0])), [0.6, np.inf])
    with pytest.raises(ArgumentError, match="weights must be finite and > 0"):
        predictor.thresholds(np.array([0.0]))
    with pytest.raises(ArgumentError, match="non-randomized"):
        from textmix.core.conformal import make_score

        WeightedConformal(make_score("aps", randomized=True), 0.1)
    with pytest.raises(ArgumentError, match="features"):
        domain_weights(np.ones((3, 2)), np.ones((3, 3)))
