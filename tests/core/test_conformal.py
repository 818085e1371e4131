"""Conformal prediction sets: the finite-sample guarantee on exchangeable synthetic data, the
scores against their papers' formulas written out here, thresholds and LAC sets against MAPIE,
the class-conditional variant per class, and the set metrics by hand."""

import math

import numpy as np
import pytest
import torch

from textmix.core.conformal import ConformalPredictor, make_score, score_names, set_report, threshold
from textmix.core.errors import ArgumentError

ALPHA = 0.1


def synthetic(n: int, k: int = 5, seed: int = 0):
    """Probabilities and labels drawn from them: exchangeable examples, continuous scores."""
    g = np.random.default_rng(seed)
    z = 2 * g.normal(size=(n, k))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = (p.cumsum(1) < g.uniform(size=(n, 1))).sum(1)
    return p, y


@pytest.mark.parametrize("name,randomized", [("lac", False), ("aps", False), ("aps", True), ("raps", False),
                                             ("raps", True), ("saps", False), ("saps", True)])  # fmt: skip
def test_coverage_guarantee_over_many_calibration_test_splits(name, randomized):
    """Mean coverage over 1500 random splits lies in [1 − α, 1 − α + 1/(n+1)] up to Monte Carlo
    noise (σ of the mean ≈ 0.001, so 0.003 is 3σ); n = 104 calibration examples puts the exact
    expectation ⌈(n+1)(1−α)⌉/(n+1) = 95/105 inside the interval, and a threshold one order
    statistic off (94/105 or 96/105) outside it."""
    n = 104
    p, y = synthetic(20000, seed=1)
    coverages = []
    for trial in range(1500):
        rows = np.random.default_rng(trial).permutation(len(p))[: n + 200]
        cal, test = rows[:n], rows[n:]
        score = make_score(name, randomized)
        if name == "raps":
            score.k_reg, score.lam = 2, 0.05  # fixed: tuning would take calibration examples
        sets = ConformalPredictor(score, ALPHA, seed=trial).fit(p[cal], y[cal]).predict(p[test])
        coverages.append(sets[np.arange(len(test)), y[test]].mean())
    mean = float(np.mean(coverages))
    assert 1 - ALPHA - 0.003 <= mean <= 1 - ALPHA + 1 / (n + 1) + 0.003, mean


@pytest.mark.parametrize("name", ["lac", "aps", "saps"])
def test_class_conditional_sets_cover_every_class(name):
    p, y = synthetic(40000, k=4, seed=2)
    p[:, 0] = p[:, 0] ** 3  # make class 0 hard: a shared threshold would under-cover it
    p = p / p.sum(1, keepdims=True)
    shared = ConformalPredictor(make_score(name), ALPHA).fit(p[:20000], y[:20000]).predict(p[20000:])
    mondrian = ConformalPredictor(make_score(name), ALPHA, mondrian=True).fit(p[:20000], y[:20000]).predict(p[20000:])
    test_y = y[20000:]
    per_class = [mondrian[test_y == k, k].mean() for k in range(4)]
    assert min(per_class) >= 1 - ALPHA - 0.015, per_class
    assert set_report(mondrian, test_y, ALPHA)["covgap"] <= set_report(shared, test_y, ALPHA)["covgap"] + 1e-9


def test_threshold_is_the_exact_order_statistic_and_matches_mapie():
    from mapie.utils import _compute_classification_quantile

    scores = np.random.default_rng(3).uniform(size=250)
    for alpha in (0.1, 0.05, 0.2, 0.01):
        k = math.ceil(251 * (1 - alpha))
        assert threshold(scores, alpha) == np.sort(scores)[k - 1]
        reference = _compute_classification_quantile(scores[:, None], np.array([alpha]))
        assert threshold(scores, alpha) == pytest.approx(float(np.ravel(reference)[0]))
    assert threshold(scores[:5], 0.1) == math.inf  # ⌈6 · 0.9⌉ = 6 > 5: every label


def test_lac_sets_equal_mapies_split_conformal_classifier():
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Frozen(ClassifierMixin, BaseEstimator):
        """A fitted model whose probabilities are given: X holds row numbers."""

        def __init__(self, probs=None):
            self.probs = probs

        def fit(self, X, y):
            self.classes_ = np.arange(self.probs.shape[1])
            return self

        def predict_proba(self, X):
            return self.probs[np.asarray(X)[:, 0].astype(int)]

        def predict(self, X):
            return self.predict_proba(X).argmax(1)

    p, y = synthetic(3000, seed=4)
    rows = np.arange(3000)[:, None]
    for alpha in (0.1, 0.05):
        mapie = SplitConformalClassifier(Frozen(p).fit(rows, y), confidence_level=1 - alpha, conformity_score="lac")
        mapie.conformalize(rows[:1000], y[:1000])
        reference = mapie.predict_set(rows[1000:])[1][:, :, 0]
        ours = ConformalPredictor(make_score("lac"), alpha).fit(p[:1000], y[:1000]).predict(p[1000:])
        assert np.array_equal(ours, reference)


def test_scores_follow_their_papers():
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], dtype=torch.float64)
    u = torch.tensor([0.25, 1.0], dtype=torch.float64)
    # LAC: 1 − p_y
    torch.testing.assert_close(make_score("lac").label_scores(p, u), 1 - p)
    # APS (Romano et al. 2020): mass of the labels ranked above y, plus u·p_y
    aps = torch.tensor([[0.25 * 0.5, 0.5 + 0.25 * 0.3, 0.8 + 0.25 * 0.2], [0.9 + 0.1, 0.6, 0.6 + 0.3]])
    torch.testing.assert_close(make_score("aps", True).label_scores(p, u), aps.double())
    # RAPS (Angelopoulos et al. 2021): APS + λ·(o(y) − k_reg)⁺, o 1-based rank; k_reg = 1, λ = 0.1
    raps = make_score("raps", True)
    raps.k_reg, raps.lam = 1, 0.1
    ranks = torch.tensor([[1, 2, 3], [3, 1, 2]])
    torch.testing.assert_close(raps.label_scores(p, u), aps.double() + 0.1 * (ranks - 1).clamp(min=0))
    # SAPS (Huang et al. 2024): u·p_max for the top label, else p_max + (o(y) − 2 + u)·λ; λ = 0.2
    top = torch.tensor([[0.5], [0.6]], dtype=torch.float64)
    saps = torch.where(ranks == 1, u[:, None] * top, top + (ranks - 2 + u[:, None]) * 0.2)
    torch.testing.assert_close(make_score("saps", True).label_scores(p, u), saps)


def test_raps_tuning_rule_picks_k_reg_from_true_label_ranks():
    p, y = synthetic(2000, k=8, seed=5)
    raps = make_score("raps")
    raps.tune(torch.tensor(p), torch.tensor(y), ALPHA)
    ranks = (np.argsort(np.argsort(-p, axis=1, kind="stable"), axis=1) + 1)[np.arange(2000), y]
    assert raps.k_reg == np.sort(ranks)[math.ceil(2001 * (1 - ALPHA)) - 1]
    assert raps.lam in raps.LAMBDAS


def test_set_metrics_by_hand():
    sets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=bool)
    labels = np.array([0, 2, 1, 1])
    report = set_report(sets, labels, alpha=0.5, resamples=0)
    assert report["coverage"] == 0.5 and report["mean_size"] == 1.5
    assert report["singleton_rate"] == 0.25 and report["empty_rate"] == 0.25
    # strata: size 0 → coverage 0, size 1 → 1, size 2–3 → 1/2: the largest |coverage − 0.5| is 0.5
    assert report["sscv"] == 0.5
    # classes: 0 → 1/1, 1 → 1/2, 2 → 0/1: mean |coverage − 0.5| = (0.5 + 0 + 0.5) / 3
    assert report["covgap"] == pytest.approx(1 / 3)
    assert report["coverage_by_size"] == {0: {"n": 1, "coverage": 0.0}, 1: {"n": 1, "coverage": 1.0},
                                          2: {"n": 1, "coverage": 0.0}, 3: {"n": 1, "coverage": 1.0}}  # fmt: skip


def test_bad_settings_are_refused():
    with pytest.raises(ArgumentError, match="alpha must be in \\(0, 1\\)"):
        ConformalPredictor(make_score("lac"), 1.5)
    with pytest.raises(ArgumentError, match=f"conformal method 'topk' is unknown; known: {', '.join(score_names())}$"):
        make_score("topk")
    with pytest.raises(ArgumentError, match="lac has no randomized variant"):
        make_score("lac", randomized=True)


def test_a_threshold_at_the_whole_mass_never_drops_a_true_label():
    """Softmax probabilities of two classes sum to 1 give or take a rounding step. With 30% errors
    (more than α) the threshold is the whole mass; the cumulative mass of a last-ranked label is
    exactly 1.0 at calibration and at prediction, so every second-ranked true label stays in its set.
    Computed as (mass ranked above) + p, the last rank lands on several values around 1.0 and the
    threshold drops some true labels: the case the score guards against."""
    g = np.random.default_rng(5)
    z = 2 * g.normal(size=(4000, 2))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    top = p.argmax(1)
    y = np.where(g.uniform(size=4000) < 0.3, 1 - top, top)
    rows = np.arange(4000)
    scores = make_score("aps").label_scores(torch.from_numpy(p), torch.ones(4000, dtype=torch.float64)).numpy()
    assert (scores.max(1) == 1.0).all()
    q = threshold(scores[rows, y], ALPHA)
    assert q == 1.0 and (scores <= q)[rows, y].all()
    ranked = np.sort(p, 1)[:, ::-1]
    naive = np.cumsum(ranked, 1) - ranked + ranked  # (N, 2) by rank: above + p
    naive_true = np.where(y == top, naive[:, 0], naive[:, 1])
    assert len(np.unique(naive[:, 1])) > 1 and (naive[y != top, 1] > threshold(naive_true, ALPHA)).any()


def test_too_small_calibration_splits_and_binary_scores_are_refused_in_one_line():
    p, y = synthetic(200, k=3, seed=4)
    with pytest.raises(ArgumentError, match=r"conformal alpha 0.001 needs at least 999 calibration examples, got 200: "
                       r"every set would hold every label; use alpha >= 0.00498"):  # fmt: skip
        ConformalPredictor("lac", 0.001).fit(p, y)
    absent = np.where(y == 2, 0, y)  # class 2 never occurs in calibration
    with pytest.raises(ArgumentError, match="there are no calibration examples of class 2"):
        ConformalPredictor("lac", 0.1, mondrian=True).fit(p, absent)
    with pytest.warns(UserWarning, match="raps tunes its settings on 40 examples, fewer than 100"):
        ConformalPredictor("raps", 0.1).fit(p, y)
    binary = np.stack([p[:, 0], 1 - p[:, 0]], axis=1)
    for name in ("aps", "raps", "saps"):
        with pytest.raises(ArgumentError, match=f"conformal score {name} without randomization puts both labels in "
                           "nearly every set of a two-class task; use lac"):  # fmt: skip
            ConformalPredictor(name, 0.1).fit(binary, y % 2)
        ConformalPredictor(make_score(name, randomized=True), 0.1).fit(binary, y % 2)  # randomized: accepted
    sets = ConformalPredictor("lac", 0.1).fit(binary, y % 2).predict(binary)
    assert (sets.sum(1) == 1).any()  # LAC informs on two classes


def test_a_class_absent_from_the_calibration_split_is_said_plainly():
    """Mondrian sets of a class without calibration examples hold every label; the message said
    "use alpha >= 1" before."""
    rng = np.random.default_rng(0)
    probs, labels = rng.dirichlet([1, 1, 1], 300), rng.integers(0, 2, 300)
    with pytest.raises(ArgumentError, match=r"there are no calibration examples of class 2: .*drop mondrian"):
        ConformalPredictor("lac", alpha=0.1, mondrian=True).fit(probs, labels)


def test_labels_are_ranked_by_probability_and_ties_by_label_id():
    """Written out: [0.2, 0.5, 0.2, 0.1] ranks label 1, then the tied labels 0 and 2 by id, then 3;
    on many rows with and without ties, the same order as torch's stable descending sort."""
    from textmix.core.conformal.base import ranked

    order, p_sorted, ranks = ranked(torch.tensor([[0.2, 0.5, 0.2, 0.1], [0.0, 0.5, 0.0, 0.5]], dtype=torch.float64))
    assert order.tolist() == [[1, 0, 2, 3], [1, 3, 0, 2]]
    assert ranks.tolist() == [[1, 0, 2, 3], [2, 0, 3, 1]]
    assert p_sorted.tolist() == [[0.5, 0.2, 0.2, 0.1], [0.5, 0.5, 0.0, 0.0]]
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(30), size=2000)
    p[::3, :12] = np.round(p[::3, :12], 2)  # every third row with ties (zeros among them)
    expected = torch.argsort(-torch.from_numpy(p), dim=1, stable=True)
    order, p_sorted, ranks = ranked(torch.from_numpy(p))
    assert torch.equal(order, expected)
    assert torch.equal(p_sorted, torch.from_numpy(p).gather(1, expected))
    assert torch.equal(ranks.gather(1, order), torch.arange(30).expand(2000, 30))
