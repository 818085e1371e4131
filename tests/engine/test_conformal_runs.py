"""eval.conformal in a run (toy task): metrics per level, method and probabilities; a carved
calibration part that selects nothing; the calibration scores kept with the model."""

import json

import numpy as np
import pytest
from toy_task import TOY

import textmix.engine as engine
from textmix.core.conformal import ConformalPredictor, make_score
from textmix.core.errors import RecipeError
from textmix.engine.recipe import recipe_from_dict

SEED = 1  # the recipe default train.seed
CONFORMAL = {"alpha": [0.1, 0.2], "methods": ["lac", "aps", "raps"], "split": 0.3}


def toy(**eval_keys):
    return recipe_from_dict({**TOY, "train": {**TOY["train"], "epochs": 3}, "eval": {**TOY["eval"], **eval_keys}})


def test_a_run_reports_conformal_sets_and_keeps_their_scores(tmp_path):
    metrics = engine.train(toy(conformal=CONFORMAL), tmp_path / "run")
    block = metrics["conformal"]
    assert block["split"] == 0.3 and block["n_calibration"] == 60  # 30% of the 200 validation examples
    assert metrics["val"]["n"] == 140 and metrics["history"][0]["val_n"] == 140  # the rest selects the epoch
    for alpha in ("0.1", "0.2"):
        for method in CONFORMAL["methods"]:
            by_probs = block["results"][alpha][method]
            assert set(by_probs) == {"none", "temperature"}  # raw, and after each fitted calibrator
            assert 0 <= by_probs["temperature"]["coverage"] <= 1 and by_probs["temperature"]["mean_size"] >= 0
    saved = json.loads((tmp_path / "run" / "model" / "textmix.json").read_text())["conformal"]
    assert saved["probabilities"] == "temperature" and set(saved["methods"]) == {"lac", "aps", "raps"}
    lac = saved["methods"]["lac"]
    assert len(lac["sorted_scores"]) == 60 and lac["sorted_scores"] == sorted(lac["sorted_scores"])
    # the stored scores give the sets the run measured: LAC at α = 0.2 on the run's test predictions
    with np.load(tmp_path / "run" / "predictions.npz") as p:
        from textmix.core.calibrators import calibrator_from_json

        info = json.loads((tmp_path / "run" / "model" / "textmix.json").read_text())
        probs = calibrator_from_json(info["calibrator"])(p["test_logits"])
        predictor = ConformalPredictor.from_sorted_scores(make_score("lac"), 0.2, lac["sorted_scores"], False, 3)
        sets = predictor.predict(probs)
        assert sets.sum(1).mean() == pytest.approx(block["results"]["0.2"]["lac"]["temperature"]["mean_size"])
        assert sets[np.arange(len(sets)), p["test_labels"]].mean() == pytest.approx(
            block["results"]["0.2"]["lac"]["temperature"]["coverage"]
        )


def test_sets_are_measured_after_every_fitted_calibrator(tmp_path):
    """Each method × calibrator cell has its own sets: calibrator fitted on the rows that are not
    carved, conformal threshold on the carved rows, both recomputed here from the saved logits."""
    from textmix.core.calibrators import make_calibrator, uncalibrated_probs
    from textmix.core.conformal import set_report
    from textmix.core.splits import stratified_split

    names = ["temperature", "vector", "histogram"]
    metrics = engine.train(toy(conformal=CONFORMAL, calibrators=names), tmp_path / "run")
    results = metrics["conformal"]["results"]
    with np.load(tmp_path / "run" / "predictions.npz") as p:
        val_logits, val_labels = p["val_logits"], p["val_labels"]
        test_logits, test_labels = p["test_logits"], p["test_labels"]
    rest, carved = stratified_split(val_labels, 0.3, SEED)
    rest, carved = np.sort(rest), np.sort(carved)
    sizes = set()
    for name in ["none", *names]:
        if name == "none":
            probs = uncalibrated_probs
        else:
            probs = make_calibrator(name).fit(val_logits[rest], val_labels[rest])
        predictor = ConformalPredictor(make_score("lac"), 0.2, False, SEED)
        sets = predictor.fit(probs(val_logits[carved]), val_labels[carved]).predict(probs(test_logits))
        expected = set_report(sets, test_labels, 0.2, 0)
        got = results["0.2"]["lac"][name]
        assert got["coverage"] == pytest.approx(expected["coverage"])
        assert got["mean_size"] == pytest.approx(expected["mean_size"])
        sizes.add(round(got["mean_size"], 6))
    assert len(sizes) > 1  # the calibrators' sets differ: each cell was measured with its own probabilities


def test_without_a_carve_out_metrics_are_those_of_a_run_without_conformal_sets(tmp_path):
    plain = engine.train(toy(), tmp_path / "plain")
    with_sets = engine.train(toy(conformal={"alpha": [0.1]}), tmp_path / "sets")
    assert {k: v for k, v in with_sets.items() if k not in ("conformal", "timing")} == {
        k: v for k, v in plain.items() if k != "timing"
    }


@pytest.mark.parametrize(
    "conformal,phrase",
    [
        ({"alpha": [1.5]}, "eval.conformal.alpha=[1.5] must be a list of levels in (0, 1)"),
        (
            {"alpha": [0.1], "methods": ["topk"]},
            "eval.conformal.methods=['topk'] must be a list of lac, aps, raps, saps",
        ),
        ({"alpha": [0.1], "split": 1}, "eval.conformal.split=1 must be in [0, 1)"),
        ({"levels": [0.1]}, "eval.conformal has unknown keys ['levels']"),
    ],
)
def test_bad_conformal_settings_are_refused_at_recipe_load(conformal, phrase):
    with pytest.raises(
        RecipeError, match=phrase.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        toy(conformal=conformal)


def test_a_run_abstains_with_a_guarantee_and_the_report_shows_it(tmp_path):
    """eval.risk_control: the Learn-then-Test threshold per ε and calibrator, chosen on the conformal
    calibration rows (here the 30% carve-out), its test coverage and risk; metrics.json reads back
    into the same Assessment; the report's table of answered shares; textmix.json keeps the counts."""
    from textmix.core.assessment import Assessment
    from textmix.core.calibrators import calibrator_from_json
    from textmix.core.risk_control import RiskControl
    from textmix.engine.conformal_sets import validation_rows
    from textmix.engine.report import report

    settings = {"risk": [0.5, 0.3], "delta": 0.2}
    runs = [tmp_path / f"run{seed}" for seed in (1, 2)]
    for seed, run in zip((1, 2), runs):
        recipe = toy(conformal={"alpha": [0.2], "split": 0.3}, risk_control=settings)
        recipe.train.seed = seed
        engine.train(recipe, run)
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    block = metrics["risk_control"]
    assert block["delta"] == 0.2 and block["procedure"] == "fixed_sequence" and block["n_calibration"] == 60
    info = json.loads((runs[0] / "model" / "textmix.json").read_text())
    temperature = calibrator_from_json(info["calibrator"])
    with np.load(runs[0] / "predictions.npz") as p:
        _, carve = validation_rows(p["val_labels"], 0.3, SEED)
        cal_probs, cal_labels = temperature(p["val_logits"][carve]), p["val_labels"][carve]
        test_probs, test_labels = temperature(p["test_logits"]), p["test_labels"]
    for epsilon in (0.5, 0.3):
        report_ = block["results"][f"{epsilon:g}"]["temperature"]
        control = RiskControl("selective", epsilon, 0.2).fit(cal_probs, cal_labels)
        answered = test_probs.max(1) >= control.threshold
        assert report_["coverage"] == pytest.approx(answered.mean()) and report_["n_answered"] == answered.sum()
        if answered.any():
            wrong = (test_probs.argmax(1) != test_labels) & answered
            assert report_["risk"] == pytest.approx(wrong.sum() / answered.sum())
    assert info["risk_control"]["n"] == 60 and info["risk_control"]["probabilities"] == "temperature"
    assert Assessment.from_json(metrics).to_json()["risk_control"] == block
    report(runs, tmp_path / "report")
    text = (tmp_path / "report" / "README.md").read_text()
    assert "abstention with a guarantee (Learn then Test, δ = 0.2, fixed_sequence" in text
    assert "| 0.5 |" in text and "| 0.3 |" in text


@pytest.mark.parametrize(
    "risk_control,phrase",
    [
        ({"risk": [1.2]}, "eval.risk_control.risk=[1.2] must be a list of levels in (0, 1)"),
        ({"risk": [0.1], "delta": 0}, "eval.risk_control.delta=0 must be in (0, 1)"),
        ({"risk": [0.1], "procedure": "sgr"}, "eval.risk_control.procedure='sgr' must be one of fixed_sequence"),
        ({"epsilon": [0.1]}, "eval.risk_control has unknown keys ['epsilon']"),
    ],
)
def test_bad_risk_control_settings_are_refused_at_recipe_load(risk_control, phrase):
    escaped = phrase.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(RecipeError, match=escaped):
        toy(risk_control=risk_control)


def test_non_randomized_aps_on_two_classes_is_refused_before_training(tmp_path):
    """MAPIE's rule: APS / RAPS / SAPS without randomization on a binary task, refused after the data
    is read and before any training, naming LAC and randomized: true (which is then accepted)."""

    def binary(**conformal):
        return recipe_from_dict({**TOY, "data": {"num_classes": 2}, "eval": {**TOY["eval"], "bootstrap_resamples": 0,
                                 "conformal": {"alpha": [0.1], "methods": ["lac", "aps"], **conformal}}})  # fmt: skip

    phrase = ("eval.conformal: conformal score aps without randomization puts both labels in nearly every set of a "
              "two-class task; use lac (the default) or eval.conformal.randomized: true")  # fmt: skip
    with pytest.raises(RecipeError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        engine.train(binary(), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "model").exists()
    metrics = engine.train(binary(randomized=True), tmp_path / "randomized")
    assert set(metrics["conformal"]["results"]["0.1"]) == {"lac", "aps"}
    stored = json.loads((tmp_path / "randomized" / "model" / "textmix.json").read_text())["conformal"]["methods"]
    assert set(stored) == {"lac"}  # predict uses non-randomized scores: only LAC informs on two classes
