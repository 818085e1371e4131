import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError

from textmix.core.calibrators import TemperatureScaling
from textmix.core.metrics import (
    brier_score,
    calibration_report,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    ood_auroc,
    overconfidence_error,
    reliability_bins,
)


def random_probs(n, k, seed, sharpness=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = sharpness * torch.randn(n, k, generator=g, dtype=torch.float64)
    return torch.softmax(logits, 1), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("k,n_bins,seed", [(2, 15, 0), (10, 15, 1), (5, 10, 2), (3, 1, 3)])
def test_ece_equals_torchmetrics(k, n_bins, seed):
    probs, labels = random_probs(5000, k, seed)
    reference = MulticlassCalibrationError(num_classes=k, n_bins=n_bins, norm="l1")(probs.float(), labels)
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(float(reference), abs=1e-6)
    assert maximum_calibration_error(probs, labels, n_bins) == pytest.approx(
        float(MulticlassCalibrationError(num_classes=k, n_bins=n_bins, norm="max")(probs.float(), labels)), abs=1e-6
    )


def test_hand_computed_small_case():
    # confidences 0.9, 0.8 (bin [0.8, 1.0) with 5 bins), 0.6 and 0.55 (bin [0.4, 0.6) / [0.6, 0.8))
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    labels = np.array([0, 0, 0, 0])  # correct, wrong, correct, wrong
    bins = reliability_bins(probs, labels, n_bins=5)
    assert bins.count.tolist() == [0, 0, 1, 1, 2]
    # bin [0.8, 1]: conf 0.85, acc 0.5; bin [0.6, 0.8): conf 0.6, acc 1; bin [0.4, 0.6): conf 0.55, acc 0
    ece = 0.5 * 0.35 + 0.25 * 0.4 + 0.25 * 0.55
    oe = 0.5 * 0.85 * 0.35 + 0.25 * 0.55 * 0.55
    assert expected_calibration_error(probs, labels, 5) == pytest.approx(ece)
    assert overconfidence_error(probs, labels, 5) == pytest.approx(oe)
    assert maximum_calibration_error(probs, labels, 5) == pytest.approx(0.55)
    assert negative_log_likelihood(probs, labels) == pytest.approx(-np.log([0.9, 0.2, 0.6, 0.45]).mean())
    assert brier_score(probs, labels) == pytest.approx(np.mean([0.02, 1.28, 0.32, 0.605]))


def test_edges_zero_and_one_are_counted():
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    bins = reliability_bins(probs, np.array([0, 2]), n_bins=15)
    assert bins.count[-1] == 2 and bins.count.sum() == 2
    # top-label confidence can never be 0 with K >= 1, but a winning score of 0.0 reaches bin 0
    from textmix.core.metrics import _bin_stats

    edge = _bin_stats(torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64), 4)
    assert edge.count.tolist() == [1, 0, 0, 1]


def test_invariants():
    for seed in range(5):
        probs, labels = random_probs(2000, 4, seed)
        bins = reliability_bins(probs, labels)
        assert bins.weight.sum() == pytest.approx(1.0)
        assert overconfidence_error(probs, labels) <= expected_calibration_error(probs, labels) + 1e-12
    # an underconfident model: always right, confidence 0.6
    probs = np.tile([0.6, 0.4], (100, 1))
    labels = np.zeros(100, dtype=int)
    assert overconfidence_error(probs, labels) == 0.0
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)


def test_empty_bins_are_skipped():
    probs = np.array([[0.95, 0.05]] * 10)
    labels = np.array([0] * 9 + [1])
    bins = reliability_bins(probs, labels, 15)
    assert (bins.count > 0).sum() == 1
    assert expected_calibration_error(probs, labels) == pytest.approx(0.05)
    assert maximum_calibration_error(probs, labels) == pytest.approx(0.05)


def test_numpy_and_torch_agree():
    probs, labels = random_probs(300, 3, 9)
    assert calibration_report(probs, labels) == calibration_report(probs.numpy(), labels.numpy())


@pytest.mark.parametrize(
    "probs,labels,message",
    [
        (np.ones((3, 2)) / 2, np.zeros(4, dtype=int), "3 rows but labels has 4"),
        (np.array([[2.0, -1.0]]), np.array([0]), "apply softmax"),
        (np.array([[0.5, 0.6]]), np.array([0]), "sum to 1"),
        (np.array([[0.5, 0.5]]), np.array([2]), r"labels must be in \[0, 1\]"),
        (np.zeros((0, 2)), np.zeros(0, dtype=int), "empty"),
        (np.ones(3) / 3, np.zeros(1, dtype=int), r"shape \(N, K\)"),
    ],
)
def test_clear_errors(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels)


def test_temperature_scaling_recovers_known_temperature():
    g = torch.Generator().manual_seed(0)
    true_logits = 2 * torch.randn(4000, 5, generator=g, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1, generator=g).squeeze(1)
    overconfident = true_logits * 2.5  # a model whose logits are 2.5x too large
    t = TemperatureScaling().fit(overconfident, labels).temperature
    assert t == pytest.approx(2.5, rel=0.1)
    before = negative_log_likelihood(torch.softmax(overconfident, 1), labels)
    after_probs = TemperatureScaling(t)(overconfident)
    assert negative_log_likelihood(after_probs, labels) < before
    assert (after_probs.argmax(1) == overconfident.argmax(1).numpy()).all()  # accuracy unchanged
    assert expected_calibration_error(after_probs, labels) < expected_calibration_error(
        torch.softmax(overconfident, 1), labels
    )


def test_temperature_never_increases_validation_nll():
    logits, labels = torch.zeros(10, 3, dtype=torch.float64), torch.arange(10) % 3
    t = TemperatureScaling().fit(logits, labels).temperature  # flat logits: every T gives the same NLL
    assert (
        negative_log_likelihood(TemperatureScaling(t)(logits), labels)
        <= negative_log_likelihood(torch.softmax(logits, 1), labels) + 1e-12
    )
    with pytest.raises(ValueError, match="temperature must be > 0"):
        TemperatureScaling(0.0)(logits)


def test_ood_auroc():
    assert ood_auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert ood_auroc([0.1], [0.9]) == 0.0
    # 3 of 4 (in, out) pairs ranked correctly
    assert ood_auroc([0.9, 0.4], [0.5, 0.3]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="need in- and out-of-distribution"):
        ood_auroc([], [0.1])


def test_plots_write_png(tmp_path):
    from textmix.core.plots import joint_density, reliability_diagram, save_figure

    probs, labels = random_probs(500, 3, 4)
    path = save_figure(reliability_diagram(probs, labels, title="test"), tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = joint_density(np.random.rand(50), np.random.rand(50), title="joint")
    assert save_figure(fig, tmp_path / "j.png").stat().st_size > 1000


def test_debiased_ece_equals_uncertainty_calibration_on_real_mr_predictions(mr_predictions):
    calibration = pytest.importorskip("calibration")  # the uncertainty-calibration package (Kumar et al.)
    from textmix.core.calibrators import make_calibrator
    from textmix.core.metrics import debiased_calibration_error

    y = mr_predictions["test_labels"]
    temperature = make_calibrator("temperature").fit(mr_predictions["val_logits"], mr_predictions["val_labels"])
    for probs in (mr_predictions["test_probs"].astype(np.float64), temperature(mr_predictions["test_logits"])):
        for n_bins in (10, 15):
            reference = calibration.lower_bound_scaling_ce(probs, y, p=2, debias=True, num_bins=n_bins,
                                                           mode="top-label")  # fmt: skip
            assert debiased_calibration_error(probs, y, n_bins) == pytest.approx(reference, abs=1e-12)


def test_every_registered_metric_ignores_row_order_ties_included(mr_predictions):
    """Histogram binning leaves ~15 distinct confidences on 1,066 rows: equal-mass bins and
    coverage cut-offs fall inside tie groups; every metric must give the same value for any order."""
    from textmix.core.calibrators import make_calibrator
    from textmix.core.metric_table import METRICS

    histogram = make_calibrator("histogram").fit(mr_predictions["val_logits"], mr_predictions["val_labels"])
    g = np.random.default_rng(0)
    synthetic = np.round(g.dirichlet(np.ones(3), 2000), 1)  # heavy ties, 3 classes
    synthetic /= synthetic.sum(1, keepdims=True)
    cases = [
        (histogram(mr_predictions["test_logits"]), mr_predictions["test_labels"]),
        (mr_predictions["test_probs"], mr_predictions["test_labels"]),
        (synthetic, g.integers(0, 3, 2000)),
    ]
    for probs, labels in cases:
        assert len(np.unique(probs.max(1))) < len(probs) or probs is cases[1][0]
        first = calibration_report(probs, labels)
        for _ in range(5):
            order = g.permutation(len(labels))
            again = calibration_report(probs[order], labels[order])
            for name in METRICS:
                assert again[name] == pytest.approx(first[name], rel=1e-12, abs=1e-15), name


def test_adaptive_bins_never_split_tied_confidences():
    from textmix.core.metrics import adaptive_calibration_error, equal_mass_bins

    conf = np.array([0.6] * 6 + [0.9] * 4)  # 2 bins of 5 would cut the 0.6 group
    assert list(equal_mass_bins(conf, 2)) == [0] * 6 + [1] * 4
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0])  # 0.6 group: 3 of 6 right; 0.9 group: 4 of 4
    expected = (6 * abs(0.5 - 0.6) + 4 * abs(1.0 - 0.9)) / 10
    assert adaptive_calibration_error(probs, labels, 2) == pytest.approx(expected)
    assert adaptive_calibration_error(probs[::-1], labels[::-1], 2) == pytest.approx(expected)
