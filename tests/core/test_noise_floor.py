"""The noise floor (consistency resampling, Bröcker & Smith 2007) against a brute-force Monte Carlo
that draws labels and calls the metrics one draw at a time."""

import numpy as np
import pytest

from textmix.core.metrics import calibration_report
from textmix.core.noise_floor import below_floor, noise_floor


def brute_force(conf: np.ndarray, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Each draw: labels from the model's own confidences (two classes: the predicted class 0 with
    probability conf), then calibration_report, as a user would compute it."""
    g = np.random.default_rng(seed)
    probs = np.stack([conf, 1 - conf], axis=1)
    out = {"ece": [], "adaptive_ece": [], "debiased_ece": [], "smooth_ece": []}
    for _ in range(draws):
        labels = (g.uniform(size=len(conf)) >= conf).astype(int)  # 0 (correct) with probability conf
        report = calibration_report(probs, labels)
        for key in out:
            out[key].append(report[key])
    return {k: np.array(v) for k, v in out.items()}


def test_the_floor_of_a_calibrated_model_matches_brute_force_monte_carlo():
    g = np.random.default_rng(0)
    conf = g.uniform(0.5, 1.0, 1066)  # MR's test size
    floor = noise_floor(conf, n_bins=15, draws=1000, smooth_draws=200, seed=1)
    brute = brute_force(conf, 300, seed=2)
    for key, values in brute.items():
        standard_error = values.std(ddof=1) / np.sqrt(len(values))
        draws = 1000 if key != "smooth_ece" else 200
        se_ours = values.std(ddof=1) / np.sqrt(draws)
        assert abs(floor[key]["mean"] - values.mean()) < 4 * np.hypot(standard_error, se_ours), key
        assert floor[key]["p95"] == pytest.approx(np.percentile(values, 95), rel=0.1), key
    # the numbers: MR's size with 15 bins has an expected ECE around 2.5%, p95 around 3.9%
    assert 0.02 < floor["ece"]["mean"] < 0.03 and 0.033 < floor["ece"]["p95"] < 0.045


def test_a_miscalibrated_model_lies_above_its_floor_and_a_calibrated_one_within_it():
    g = np.random.default_rng(3)
    conf = g.uniform(0.6, 1.0, 5000)
    floor = noise_floor(conf, seed=4)
    probs = np.stack([conf, 1 - conf], axis=1)
    overconfident = (g.uniform(size=5000) >= conf - 0.1).astype(int)  # 10 points less accurate than it says
    report = calibration_report(probs, overconfident)
    for key in ("ece", "adaptive_ece", "debiased_ece", "smooth_ece"):
        assert report[key] > floor[key]["p95"] and not below_floor(report[key], floor[key]), key
    honest = calibration_report(probs, (g.uniform(size=5000) >= conf).astype(int))
    assert honest["ece"] < floor["ece"]["p95"] * 1.5 and below_floor(floor["ece"]["mean"], floor["ece"])


def test_the_floor_shrinks_with_the_test_size_and_ignores_row_order():
    g = np.random.default_rng(5)
    small, large = g.uniform(0.5, 1, 500), g.uniform(0.5, 1, 25000)
    assert noise_floor(large, smooth_draws=0)["ece"]["mean"] < noise_floor(small, smooth_draws=0)["ece"]["mean"] / 4
    shuffled = g.permutation(small)
    assert noise_floor(small, seed=9) == noise_floor(shuffled, seed=9)


def test_the_consistency_band_of_a_huge_set_is_the_normal_band_without_drawing_every_label(monkeypatch):
    """Beyond draws × examples of MAX_TOTAL (500,000 examples) the band of a large bin is
    mean ± 1.96 sd of its Poisson-binomial hit count, written out here; the small bins are still
    drawn; both agree with the exact band of 2,000 draws of every label."""
    import textmix.core.noise_floor as nf

    conf = np.random.default_rng(3).beta(5, 2, 40_000)
    exact_low, exact_high = nf.consistency_band(conf, draws=2000)  # 40,000 × 2,000 <= MAX_TOTAL: every label
    monkeypatch.setattr(nf, "MAX_TOTAL", 100 * 39_999)  # now "huge": the approximate path
    low, high = nf.consistency_band(conf, draws=2000)
    edges = np.linspace(0, 1, 16)
    sizes = np.bincount(np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, 14), minlength=15)
    large = sizes >= nf.EXACT_BIN  # normal bands; the small bins are drawn again (another random stream)
    assert large.sum() >= 2 and (~large & (sizes > 0)).sum() >= 2
    np.testing.assert_allclose(low[large], exact_low[large], atol=0.005)
    np.testing.assert_allclose(high[large], exact_high[large], atol=0.005)
    np.testing.assert_allclose(low[~large], exact_low[~large], atol=0.05)
    b = int(sizes.argmax())  # the largest bin: thousands of examples, a normal band
    members = conf[(conf >= edges[b]) & (conf < edges[b + 1])]
    sd = np.sqrt((members * (1 - members)).sum())
    assert high[b] == pytest.approx((members.sum() + 1.959963984540054 * sd) / len(members), rel=1e-9)
    assert low[b] == pytest.approx((members.sum() - 1.959963984540054 * sd) / len(members), rel=1e-9)
