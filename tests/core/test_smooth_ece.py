"""Smooth ECE against the authors' ``relplot`` package, on real predictions and on hand cases."""

import numpy as np
import pytest

from textmix.core.calibrators import make_calibrator
from textmix.core.metrics import calibration_report
from textmix.core.smooth_ece import smooth_ece, smooth_ece_batch

relplot = pytest.importorskip("relplot")


def top_label(probs, labels):
    return probs.max(1), (probs.argmax(1) == labels).astype(np.float64)


def test_smooth_ece_equals_relplot_on_real_mr_predictions(mr_predictions):
    p, y = mr_predictions["test_probs"].astype(np.float64), mr_predictions["test_labels"]
    val = mr_predictions["val_logits"].astype(np.float64), mr_predictions["val_labels"]
    isotonic = make_calibrator("isotonic").fit(*val)
    for probs in (p, isotonic(mr_predictions["test_logits"].astype(np.float64))):  # continuous, then with ties
        conf, correct = relplot.multiclass_logits_to_confidences(probs, y, probs=True)
        reference = relplot.smECE(conf, correct)
        assert smooth_ece(conf, correct) == pytest.approx(reference, abs=1e-12)
        assert calibration_report(probs, y)["smooth_ece"] == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("n, seed", [(1, 0), (7, 1), (300, 2), (5000, 3)])
def test_smooth_ece_equals_relplot_on_synthetic_cases(n, seed):
    g = np.random.default_rng(seed)
    conf = g.uniform(0.3, 1.0, n)
    correct = (g.uniform(size=n) < conf**2).astype(np.float64)  # overconfident
    assert smooth_ece(conf, correct) == pytest.approx(relplot.smECE(conf, correct), abs=1e-12)


def test_a_batch_of_label_draws_equals_one_call_per_draw():
    g = np.random.default_rng(4)
    conf = g.uniform(0.5, 1.0, 2000)
    draws = (g.uniform(size=(40, 2000)) < conf).astype(np.float64)
    batch = smooth_ece_batch(conf, draws)
    assert np.allclose(batch, [relplot.smECE(conf, d) for d in draws], atol=1e-12, rtol=0)


def test_perfect_and_worst_predictions():
    conf = np.full(1000, 0.999)
    assert smooth_ece(conf, np.zeros(1000)) == pytest.approx(0.999, abs=1e-3)  # always wrong at ~certainty
    g = np.random.default_rng(5)
    calibrated = g.uniform(0.5, 1.0, 20000)
    assert smooth_ece(calibrated, (g.uniform(size=20000) < calibrated).astype(float)) < 0.02
