"""Adaptive and classwise ECE, selective prediction (AURC, E-AURC) and bootstrap intervals, each
pinned to a hand-computed case or a known identity."""

import numpy as np
import pytest

from textmix.core.bootstrap import bootstrap_intervals, bootstrap_metrics
from textmix.core.metrics import adaptive_calibration_error, calibration_report, classwise_calibration_error
from textmix.core.selective import accuracy_at_coverage, aurc, optimal_aurc, risk_coverage, threshold_for


def binary(conf_pos):
    conf_pos = np.asarray(conf_pos, dtype=np.float64)
    return np.stack([1 - conf_pos, conf_pos], axis=1)


def test_adaptive_ece_uses_equal_mass_bins():
    # winning confidences 0.55 ... 0.95 (9 examples, 3 bins of 3), correct pattern per bin
    conf = np.array([0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    labels = np.array([1, 0, 1, 1, 1, 0, 1, 1, 1])  # predicted class is 1 everywhere
    # bin means: conf 0.6, 0.75, 0.9; accuracy 2/3, 2/3, 1 → Σ 3/9 · |acc − conf|
    expected = (abs(2 / 3 - 0.6) + abs(2 / 3 - 0.75) + abs(1 - 0.9)) / 3
    assert adaptive_calibration_error(binary(conf), labels, n_bins=3) == pytest.approx(expected)
    assert calibration_report(binary(conf), labels, n_bins=3)["adaptive_ece"] == pytest.approx(expected)


def test_classwise_ece_hand_computed():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    labels = np.array([0, 2])
    # one bin per class (n_bins=1): |mean p_k − mean 1[y=k]| averaged over k
    expected = (abs(0.4 - 0.5) + abs(0.4 - 0.0) + abs(0.2 - 0.5)) / 3
    assert classwise_calibration_error(probs, labels, n_bins=1) == pytest.approx(expected)
    # with 10 bins each (example, class) pair sits in its own bin: mean |p_k − 1[y=k]| over pairs
    pairs = np.abs(probs - np.eye(3)[labels]).sum() / 6
    assert classwise_calibration_error(probs, labels, n_bins=10) == pytest.approx(pairs)


def test_aurc_hand_computed_and_optimal():
    scores, correct = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 1]
    coverage, risk, thresholds = risk_coverage(scores, correct)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 2, 1 / 3, 1 / 4])
    assert aurc(scores, correct) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert optimal_aurc(correct) == pytest.approx(1 / 16)  # risks 0, 0, 0, 1/4
    assert accuracy_at_coverage(scores, correct, 0.5) == 0.5
    assert threshold_for(scores, correct, coverage=0.7) == 0.7
    assert threshold_for(scores, correct, risk=0.0) == 0.9 and threshold_for(scores, correct, risk=0.3) == 0.6


def test_constant_scores_give_a_flat_curve_at_the_mean_risk():
    correct = np.random.default_rng(0).random(500) < 0.83
    assert aurc(np.full(500, 0.7), correct) == pytest.approx(1 - correct.mean())
    coverage, risk, _ = risk_coverage(np.full(500, 0.7), correct)
    assert coverage.tolist() == [1.0] and risk[0] == pytest.approx(1 - correct.mean())


def test_bootstrap_resamples_are_exact_and_the_spread_matches_theory():
    rng = np.random.default_rng(1)
    n, p = 4000, 0.7
    labels = rng.integers(0, 2, n)
    right = rng.random(n) < p  # predicted class correct with probability p
    confidence = rng.uniform(0.5, 1.0, n)
    probs = binary(np.where(right == (labels == 1), confidence, 1 - confidence))
    values = bootstrap_metrics(probs, labels, resamples=400, seed=3)
    ranked = np.argsort(-probs.max(1), kind="stable")  # resamples draw positions in this ranking
    draws = ranked[np.random.default_rng(3).integers(0, n, size=(400, n), dtype=np.int64)]
    for r in (0, 7):  # every resample is the calibration report of the resampled examples
        report = calibration_report(probs[draws[r]], labels[draws[r]])
        for key in ("accuracy", "ece", "oe", "aurc"):
            assert values[key][r] == pytest.approx(report[key], abs=1e-12)
    accuracy = right.mean()
    assert values["accuracy"].std(ddof=1) == pytest.approx(np.sqrt(accuracy * (1 - accuracy) / n), rel=0.15)
    intervals = bootstrap_intervals(probs, labels, resamples=400, seed=3)
    assert intervals["accuracy"]["low"] < accuracy < intervals["accuracy"]["high"]
    assert intervals == bootstrap_intervals(probs, labels, resamples=400, seed=3)  # seeded


def test_coverage_table_and_picking_a_threshold():
    from textmix.core.selective import coverage_table, pick_threshold

    scores, correct = [0.9, 0.8, 0.7, 0.6], [1, 0, 1, 1]
    table = coverage_table(scores, correct, points=4)
    assert table["coverage"] == [0.25, 0.5, 0.75, 1.0] and table["threshold"] == [0.9, 0.8, 0.7, 0.6]
    np.testing.assert_allclose(table["risk"], [0.0, 0.5, 1 / 3, 0.25])
    assert pick_threshold(table, coverage=0.6) == pytest.approx((0.7, 0.75, 1 / 3))
    assert pick_threshold(table, risk=0.3) == (0.6, 1.0, 0.25)  # the largest coverage within the risk
    assert pick_threshold(table, risk=0.0) == (0.9, 0.25, 0.0)


def test_selective_report_agrees_with_the_single_metrics():
    from textmix.core.selective import selective_report

    rng = np.random.default_rng(4)
    scores = np.round(rng.random(3001), 2)  # many ties
    correct = rng.random(3001) < scores
    report = selective_report(scores, correct)
    assert report["aurc"] == pytest.approx(aurc(scores, correct))
    assert report["eaurc"] == pytest.approx(aurc(scores, correct) - optimal_aurc(correct))
    assert report["accuracy_at_80"] == pytest.approx(accuracy_at_coverage(scores, correct, 0.8))
    assert report["accuracy_at_90"] == pytest.approx(accuracy_at_coverage(scores, correct, 0.9))


def test_bootstrap_in_chunks_draws_the_same_resamples_as_in_one_piece(monkeypatch):
    import textmix.core.bootstrap as boot

    rng = np.random.default_rng(3)
    probs, labels = rng.dirichlet([1.0, 1.0, 1.0], 3000), rng.integers(0, 3, 3000)
    whole = boot.bootstrap_metrics(probs, labels, resamples=200, seed=5)
    monkeypatch.setattr(boot, "ONE_CALL_DRAWS", 0)
    monkeypatch.setattr(boot, "CHUNK_DRAWS", 3000 * 7)  # 7 resamples a chunk, the last one shorter
    chunked = boot.bootstrap_metrics(probs, labels, resamples=200, seed=5)
    for name in boot.METRICS:  # every sum runs per resample in numpy's order: no chunk changes a bit
        np.testing.assert_array_equal(chunked[name], whole[name], err_msg=name)


BOOTSTRAP_SCRIPT = """
import json, sys, numpy as np, threadpoolctl
from textmix.core.bootstrap import bootstrap_intervals
rng = np.random.default_rng(0)
probs, labels = rng.dirichlet([0.3, 0.3, 0.3], 5000), rng.integers(0, 3, 5000)
out = {}
for threads in (1, 2):
    with threadpoolctl.threadpool_limits(threads):
        out[threads] = bootstrap_intervals(probs, labels, resamples=300, seed=1)
print(json.dumps(out))
"""


def test_bootstrap_intervals_do_not_depend_on_blas_threads_or_the_processor_kernel():
    """A run writes the same intervals in a sequential sweep (numpy's BLAS on every core), in a
    ``--jobs 2`` sweep (one thread a run) and on another processor: bin sums through a matrix product
    differed in the 17th digit (issue 44). Here: 1 and 2 BLAS threads, and OpenBLAS's own kernel
    against its Haswell one, in subprocesses."""
    import json
    import os
    import subprocess
    import sys

    runs = []
    for env in ({}, {"OPENBLAS_CORETYPE": "Haswell"}):
        result = subprocess.run([sys.executable, "-c", BOOTSTRAP_SCRIPT], env={**os.environ, **env},
                                capture_output=True, text=True, check=True)  # fmt: skip
        runs.append(json.loads(result.stdout))
    assert runs[0]["1"] == runs[0]["2"] == runs[1]["1"] == runs[1]["2"]
