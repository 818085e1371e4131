"""Risk control (Learn then Test): the guarantee P(risk > ε) ≤ δ over 1,000 calibration draws from
real MR and TREC predictions, for abstention by top probability and for LAC-style label sets; the
p-values, the family-wise procedures and the chosen threshold against MAPIE's; counts by hand."""

import numpy as np
import pytest

from textmix.core.calibrators import make_calibrator
from textmix.core.errors import ArgumentError
from textmix.core.risk_control import RISKS, RiskControl, RiskCounts, grid, p_values, rejected

DELTA = 0.1


def pooled(predictions: dict) -> tuple[np.ndarray, np.ndarray]:
    """Validation and test predictions of a real run after temperature scaling (fitted on
    validation), pooled: the population the draws come from."""
    logits = [predictions[f"{s}_logits"].astype(np.float64) for s in ("val", "test")]
    temperature = make_calibrator("temperature").fit(logits[0], predictions["val_labels"])
    return np.concatenate([temperature(x) for x in logits]), np.concatenate(
        [predictions["val_labels"], predictions["test_labels"]]
    )


def population_risk(control: RiskControl, probs, labels) -> float:
    """The chosen threshold's risk on the whole pool (the exact risk of the draws' distribution)."""
    if control.risk == "selective":
        answered = control.accepts(probs)
        return float(((probs.argmax(1) != labels) & answered).sum() / max(answered.sum(), 1))
    return float(1 - control.sets(probs)[np.arange(len(labels)), labels].mean())


@pytest.mark.parametrize("risk,epsilon", [("selective", "0.5 error"), ("selective", "0.8 error"),
                                          ("miscoverage", 0.1), ("miscoverage", 0.05)])  # fmt: skip
@pytest.mark.parametrize("procedure", ["fixed_sequence", "holm", "bonferroni"])
@pytest.mark.parametrize("dataset", ["mr", "trec"])
def test_the_risk_exceeds_epsilon_in_at_most_a_delta_share_of_calibration_draws(
    dataset, procedure, risk, epsilon, request
):
    """Calibration sets of 600 drawn i.i.d. (with replacement) from the pooled real predictions, so
    the pool is the population and its risk at the chosen λ is the exact risk (a finite test split
    would add its own sampling noise to the risk the guarantee is about): over 1,000 draws the share
    with risk > ε is at most δ plus 3 Monte Carlo standard errors (0.028). The threshold chosen
    without the correction (the most permissive λ whose calibration risk is ≤ ε: the old
    validation-table rule) breaks it in every setting here."""
    probs, labels = pooled(request.getfixturevalue(f"{dataset}_predictions"))
    share = float(epsilon.split()[0]) if isinstance(epsilon, str) else None
    if share is not None:  # a share of the model's error rate: abstaining can reach it
        epsilon = share * float((probs.argmax(1) != labels).mean())
    draws, over, naive_over, answered = 1000, 0, 0, []
    for draw in range(draws):
        rows = np.random.default_rng(draw).integers(0, len(labels), 600)
        control = RiskControl(risk, epsilon, DELTA, procedure).fit(probs[rows], labels[rows])
        over += population_risk(control, probs, labels) > epsilon
        counts = control.counts
        fits = np.flatnonzero((counts.n > 0) & (counts.losses <= epsilon * counts.n))
        naive = RiskControl(risk, epsilon, DELTA)
        naive.threshold = float(counts.thresholds[fits[-1]]) if len(fits) else control.threshold
        naive_over += population_risk(naive, probs, labels) > epsilon
        answered.append(control.accepts(probs).mean() if risk == "selective" else control.sets(probs).sum(1).mean())
    slack = 3 * np.sqrt(DELTA * (1 - DELTA) / draws)
    assert over / draws <= DELTA + slack, (over, np.mean(answered))
    assert naive_over / draws > DELTA + slack, naive_over  # the test can fail: no guarantee without LTT
    if share == 0.8:  # informative: at 80% of the error rate it answers a real share
        assert np.mean(answered) > 0.1, np.mean(answered)


def test_p_values_and_procedures_equal_mapies(mr_predictions):
    from mapie.risk_control import FWERFixedSequenceTesting, control_fwer
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    probs, labels = pooled(mr_predictions)
    for risk in ("selective", "miscoverage"):
        counts = RiskControl.tabulate(risk, probs, labels)
        for epsilon in (0.05, 0.2, 0.3):
            measured = counts.n > 0
            r_hat = counts.losses[measured] / counts.n[measured]
            theirs = compute_hoeffding_bentkus_p_value(r_hat, counts.n[measured].astype(float), epsilon, binary=True)
            ours = p_values(counts, epsilon)
            # MAPIE recovers the loss count as ceil(n · r̂), one too many where n · (losses / n) rounds up
            exact = np.ceil(counts.n[measured] * r_hat) == counts.losses[measured]
            assert exact.mean() > 0.9
            np.testing.assert_allclose(ours[measured][exact], theirs[exact, 0], rtol=1e-9, atol=1e-300)
            assert (ours[~measured] == 1).all()
            procedures = (("bonferroni", "bonferroni"), ("holm", "bonferroni_holm"),
                          ("fixed_sequence", FWERFixedSequenceTesting(10)))  # fmt: skip
            for procedure, mapie in procedures:
                expected = np.zeros(len(ours), dtype=bool)
                expected[control_fwer(ours, DELTA, mapie)] = True
                np.testing.assert_array_equal(rejected(ours, DELTA, procedure, 10), expected)


@pytest.mark.parametrize("procedure,theirs", [("bonferroni", "bonferroni"), ("holm", "bonferroni_holm")])
def test_abstention_threshold_equals_mapies_binary_controller(mr_predictions, procedure, theirs):
    """MAPIE's BinaryClassificationController with a prediction that abstains (NaN) below λ and the
    risk "error among answered" gives the same valid thresholds and, minimizing abstention, the same λ
    (MAPIE allows no fixed-sequence testing with such a prediction; the procedure itself is compared
    with MAPIE's above)."""
    from mapie.risk_control import BinaryClassificationController, BinaryRisk, abstention_rate

    probs, labels = pooled(mr_predictions)
    thresholds = grid()[::-1]
    thresholds = thresholds[thresholds <= probs.max()]  # MAPIE's p-value is NaN where nothing is answered

    def predict(p, lam):
        return np.where(p.max(1) >= lam, p.argmax(1).astype(float), np.nan)

    error_among_answered = BinaryRisk(
        risk_occurrence=lambda y, pred: pred != y, risk_condition=lambda y, pred: pred == pred, higher_is_better=False
    )
    for epsilon in (0.3, 0.25):
        mapie = BinaryClassificationController(
            predict, error_among_answered, epsilon, 1 - DELTA, abstention_rate, thresholds[:, None], theirs
        ).calibrate(probs, labels)
        counts = RISKS["selective"].counts(probs, labels, thresholds)
        ours = RiskControl("selective", epsilon, DELTA, procedure).fit_counts(counts)
        ok = rejected(p_values(counts, epsilon), DELTA, procedure)
        assert sorted(mapie.valid_predict_params[:, 0]) == sorted(thresholds[ok])
        assert ok.any() and mapie.best_predict_param[0] == pytest.approx(ours.threshold)


def test_counts_and_choice_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 0, 1, 1, 0])
    thresholds = np.array([0.95, 0.85, 0.7, 0.5])
    counts = RiskControl.tabulate("selective", probs, labels)  # on the grid; by hand on four λ:
    by_hand = RISKS["selective"].counts(probs, labels, thresholds)
    assert by_hand.n.tolist() == [0, 1, 3, 5] and by_hand.losses.tolist() == [0, 0, 0, 2]
    sets = RISKS["miscoverage"].counts(probs, labels, np.array([0.3, 0.5, 0.75]))
    assert sets.losses.tolist() == [0, 2, 3] and sets.n.tolist() == [5, 5, 5]  # p_y: .9 .8 .4 .7 .45
    assert (np.diff(counts.thresholds) < 0).all()  # selective: most conservative (highest λ) first
    # binomial tail by hand: 0 errors in 3 at ε = 0.5 → 0.5³
    assert p_values(RiskCounts("selective", thresholds, by_hand.n, by_hand.losses), 0.5)[2] == pytest.approx(0.125)
    # a chain stops at its first failure; bonferroni tests each at δ / G
    assert rejected(np.array([0.01, 0.2, 0.01, 0.01]), 0.1, "fixed_sequence", 1).tolist() == [True, False, False, False]
    assert rejected(np.array([0.01, 0.2, 0.01, 0.01]), 0.1, "fixed_sequence", 2).tolist() == [True, False, True, True]
    assert rejected(np.array([0.01, 0.2, 0.03, 0.01]), 0.1, "bonferroni").tolist() == [True, False, False, True]
    none = RiskControl("selective", 0.01, 0.1).fit(probs, labels)
    assert none.threshold == float("inf") and not none.accepts(probs).any()  # nothing certified: abstain on all
    everything = RiskControl("miscoverage", 0.01, 0.1).fit(probs, labels)
    assert everything.sets(probs).all()  # nothing certified: every label


@pytest.mark.parametrize(
    "kwargs,phrase",
    [
        ({"risk": "precision", "epsilon": 0.1}, "risk 'precision' is unknown; use selective or miscoverage"),
        ({"risk": "selective", "epsilon": 1.5}, "epsilon=1.5 must be in (0, 1)"),
        ({"risk": "selective", "epsilon": 0.1, "delta": 0}, "delta=0 must be in (0, 1)"),
        ({"risk": "selective", "epsilon": 0.1, "procedure": "sgr"}, "procedure 'sgr' is unknown"),
    ],
)
def test_bad_settings_are_refused(kwargs, phrase):
    with pytest.raises(ArgumentError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        RiskControl(**kwargs)


@pytest.mark.parametrize(
    "data,phrase",
    [
        ({"thresholds": [0.5], "n": [3]}, "damaged (KeyError"),
        ({"thresholds": [0.5, 0.6], "n": [3], "losses": [1]}, "three equal-length lists"),
        ({"thresholds": [0.5], "n": [3], "losses": [4]}, "0 <= losses <= n"),
        ({"thresholds": [1.5], "n": [3], "losses": [1]}, "thresholds in [0, 1]"),
        ({"thresholds": [0.5], "n": [float("nan")], "losses": [1]}, "finite numbers"),
    ],
)
def test_damaged_stored_counts_are_named(data, phrase):
    with pytest.raises(ArgumentError, match=phrase.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        RiskCounts.from_json("selective", data)
