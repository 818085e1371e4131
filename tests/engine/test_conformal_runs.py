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
        predictor = ConformalPredictor.from_sorted_scores(make_score("lac"), 0.2, lac["sorted_scores"], False)
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
