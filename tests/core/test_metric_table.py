"""textmix/core/metric_table.py: one declaration adds a metric to every output."""

import numpy as np
import pytest

import textmix
from textmix.core.assessment import Assessment, Scores, assess
from textmix.core.assessment_legacy import upgrade
from textmix.core.metric_table import METRICS, MetricInfo, register_metric, shown_metrics
from textmix.core.metrics import calibration_report


def top2_gap(probs, labels, n_bins):
    ranked = np.sort(probs, axis=1)
    return float((ranked[:, -1] - ranked[:, -2]).mean())


@pytest.fixture
def new_metric():
    info = register_metric(MetricInfo("top2_gap", "top-2 gap", lower_is_better=False, shown=True, compute=top2_gap))
    try:
        yield info
    finally:
        METRICS.remove("top2_gap")


def predictions(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), labels] += 2
    return logits, labels


def test_a_registered_metric_reaches_every_output(new_metric, tmp_path):
    logits, labels = predictions(400, 1)
    val = predictions(300, 2)
    probs = textmix.core.calibrators.uncalibrated_probs(logits)
    by_hand = float((np.sort(probs, 1)[:, -1] - np.sort(probs, 1)[:, -2]).mean())
    assert calibration_report(probs, labels)["top2_gap"] == pytest.approx(by_hand, abs=1e-12)
    # the assessment (metrics.json, calibration.json): every source's block
    result = assess(Scores.of_logits(*val), Scores.of_logits(logits, labels), calibrators=["temperature"])
    saved = result.to_json()
    assert "top2_gap" in saved["test"] and "top2_gap" in saved["calibrated"]["temperature"]["test"]
    # textmix calibrate's table
    table = textmix.calibrate(logits, labels, kind="logits", val=val).table()
    assert "top-2 gap %" in table.splitlines()[0]
    # MixupTrainer's compute_metrics
    from transformers import EvalPrediction

    from textmix.integrations.transformers import calibration_metrics

    assert "top2_gap" in calibration_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    # textmix report's main table
    from textmix.engine.report.collect import Group
    from textmix.engine.report.tables import tables

    group = Group("mr", "kim_cnn", "baseline", None, "baseline")
    group.metrics, group.assessments = [upgrade(saved)], [Assessment.from_json(saved)]
    header = tables([group]).splitlines()[4]
    assert "top-2 gap" in header and header.count("|") == len(shown_metrics()) + 6


def test_a_metric_needs_a_known_unit_and_its_own_name():
    with pytest.raises(ValueError, match="unit must be one of"):
        register_metric(MetricInfo("odd", "odd", unit="bits"))
    with pytest.raises(ValueError, match="is named 'b'"):
        METRICS.add("a", MetricInfo("b", "b"))
    assert "odd" not in METRICS and "a" not in METRICS


def test_the_built_in_table_covers_every_key_of_the_calibration_report():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    assert set(calibration_report(probs, np.array([0, 1, 0]))) == set(METRICS.names())
    for info in METRICS.values():
        assert info.low < info.high and info.label
