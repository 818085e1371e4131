"""textmix/core/assessment.py: one producer of the grid {none, each calibrator} × {metrics,
intervals, validation metrics, conformal sets} for test, shifted and OOD sets; its JSON; and the
files of textmix 0.2 / 0.3 read into it (textmix/core/assessment_legacy.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from textmix.core.assessment import Assessment, Scores, assess
from textmix.core.bootstrap import bootstrap_intervals
from textmix.core.calibrators import crossfit_reports, make_calibrator, uncalibrated_probs
from textmix.core.conformal import ConformalPredictor, make_score, set_report
from textmix.core.conformal.settings import ConformalSettings
from textmix.core.metrics import calibration_report, ood_auroc
from textmix.core.noise_floor import noise_floor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CALIBRATORS = ["temperature", "isotonic", "vector"]


def logits(n: int, seed: int, k: int = 3, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) * 1.5 + shift
    z[np.arange(n), labels] += 2.0
    return z.astype(np.float32), labels  # float32, as a model's logits


@pytest.fixture(scope="module")
def grid():
    (vz, vy), (tz, ty), (cz, cy), (sz, sy), (oz, _) = (logits(n, s) for n, s in
                                                       ((300, 1), (500, 2), (200, 3), (250, 4), (150, 5)))  # fmt: skip
    sz = sz * 0.5  # another domain: less confident
    conformal = ConformalSettings(alpha=[0.1], methods=["lac", "aps"])
    result = assess(Scores.of_logits(vz, vy), Scores.of_logits(tz, ty), calibrators=CALIBRATORS,
                    conformal=conformal, conformal_rows=Scores.of_logits(cz, cy), bootstrap=200, seed=7,
                    shift={"other": Scores.of_logits(sz, sy)}, ood={"noise": Scores.of_logits(oz)})  # fmt: skip
    arrays = {"val": (vz, vy), "test": (tz, ty), "cal": (cz, cy), "shift": (sz, sy), "ood": oz}
    return result, arrays


def test_every_block_is_its_source_measured_by_hand(grid):
    result, a = grid
    (vz, vy), (tz, ty), (cz, cy) = a["val"], a["test"], a["cal"]
    none = result.test.blocks["none"]
    assert none.metrics == calibration_report(uncalibrated_probs(tz), ty)  # uncalibrated: as the logits came
    assert none.val == calibration_report(uncalibrated_probs(vz), vy)
    assert none.intervals == bootstrap_intervals(uncalibrated_probs(tz), ty, 15, 200, 7)
    assert none.floor == noise_floor(uncalibrated_probs(tz).max(1), 15, 1000, 200, 7)
    crossfit = crossfit_reports(CALIBRATORS, vz.astype(np.float64), vy, 15, 7)
    for name in CALIBRATORS:
        fitted = make_calibrator(name).fit(vz.astype(np.float64), vy)  # calibrators read float64
        probs = fitted(tz.astype(np.float64))
        block = result.test.blocks[name]
        assert block.metrics == calibration_report(probs, ty)
        assert block.val == calibration_report(fitted(vz.astype(np.float64)), vy)  # in-sample
        assert block.crossfit_val == crossfit[name]
        assert block.intervals == bootstrap_intervals(probs, ty, 15, 200, 7)
        assert block.floor == noise_floor(probs.max(1), 15, 1000, 200, 7)
        assert block.calibrator == fitted.to_json()
        cal_probs = fitted(cz.astype(np.float64))
        for method in ("lac", "aps"):
            sets = ConformalPredictor(make_score(method), 0.1, False, 7).fit(cal_probs, cy).predict(probs)
            accuracy = block.metrics["accuracy"]
            assert block.conformal["0.1"][method] == set_report(sets, ty, 0.1, 200, 7, accuracy=accuracy)
    assert result.chosen == min(CALIBRATORS, key=lambda n: crossfit[n]["nll"]) and result.choice == "auto"
    assert list(result.test.blocks) == ["none", result.chosen, *(n for n in CALIBRATORS if n != result.chosen)]


def test_shifted_and_ood_sets_get_the_same_sources(grid):
    result, a = grid
    (vz, vy), (tz, _), (sz, sy), oz = a["val"], a["test"], a["shift"], a["ood"]
    shifted = result.shift["other"]
    assert shifted.n == 250 and list(shifted.blocks) == list(result.test.blocks)
    isotonic = make_calibrator("isotonic").fit(vz.astype(np.float64), vy)
    assert shifted.blocks["isotonic"].metrics == calibration_report(isotonic(sz.astype(np.float64)), sy)
    assert shifted.blocks["none"].conformal["0.1"]["lac"]["n"] == 250  # thresholds calibrated in-domain
    assert "intervals" not in shifted.blocks["none"].conformal["0.1"]["lac"]  # no bootstrap of shifted sets
    table = result.ood["noise"]
    assert table["n"] == 150 and list(table)[1:] == list(result.test.blocks)
    expected = ood_auroc(isotonic(tz.astype(np.float64)).max(1), isotonic(oz.astype(np.float64)).max(1))
    assert table["isotonic"]["auroc"] == expected


def test_json_round_trip_keeps_every_number_and_the_calibrators(grid):
    result, a = grid
    text = json.dumps(result.to_json())
    again = Assessment.from_json(json.loads(text))
    assert again.to_json() == json.loads(text)
    assert again.chosen == result.chosen and again.n_calibration == 200
    tz = a["test"][0].astype(np.float64)
    for name, calibrator in result.calibrators.items():
        np.testing.assert_array_equal(again.calibrators[name](tz), calibrator(tz))


def test_without_validation_only_the_uncalibrated_block():
    tz, ty = logits(100, 1)
    result = assess(None, Scores.of_logits(tz, ty), calibrators=CALIBRATORS, bootstrap=0)
    assert list(result.test.blocks) == ["none"] and result.chosen is None
    assert "calibrated" not in result.to_json() and "intervals" not in result.to_json()


def test_a_0_2_metrics_json_reads_as_the_current_layout():
    """A textmix 0.2 run (MR, Kim CNN, OOD sets and MC dropout): temperature scaling was
    ``temperature_scaled`` with its T beside its metrics; OOD sources were baseline /
    temperature_scaled."""
    old = json.loads((FIXTURES / "metrics_0.2.json").read_text())
    result = Assessment.from_json(old)
    assert result.block("none").metrics == old["test"] and result.block("none").val == old["val"]
    temperature = result.block("temperature")
    assert temperature.metrics == old["temperature_scaled"]["test"]
    assert temperature.val == old["temperature_scaled"]["val"]
    assert result.calibrators["temperature"].temperature == old["temperature_scaled"]["temperature"]
    assert result.chosen == "temperature"
    for name, table in old["ood"].items():
        assert result.ood[name]["none"] == table["baseline"]
        assert result.ood[name]["temperature"] == table["temperature_scaled"]
    # the current layout, written back, has no legacy key
    assert "temperature_scaled" not in json.dumps(result.to_json())


def test_a_0_3_metrics_json_with_calibrators_conformal_sets_and_a_shift_reads_as_the_current_layout():
    old = json.loads((FIXTURES / "metrics_0.3.json").read_text())
    result = Assessment.from_json(old)
    assert result.chosen == old["calibrator_choice"]["chosen"]
    for name, block in old["calibrated"].items():
        assert result.block(name).metrics == block["test"]
        assert result.block(name).crossfit_val == old["calibrator_choice"]["crossfit_val"][name]
        assert result.block(name).intervals == block.get("intervals", {})
    assert result.block("temperature").val == old["temperature_scaled"]["val"]
    for alpha, by_score in old["conformal"]["results"].items():
        for score, by_source in by_score.items():
            for source, report in by_source.items():
                assert result.block(source).conformal[alpha][score] == report
    for name, shifted in old["shift"].items():
        assert result.shift[name].blocks["none"].metrics == shifted["test"]
        assert result.shift[name].blocks["temperature"].metrics == shifted["temperature_scaled"]


def test_a_0_3_calibrate_output_and_trainer_output_read_as_the_current_layout():
    old = json.loads((FIXTURES / "calibration_0.3.json").read_text())
    result = Assessment.from_json(old)
    assert result.block("none").metrics == old["metrics"] and result.chosen == old["chosen"]
    for name, c in old["calibrated"].items():
        assert result.block(name).metrics == c["test"] and result.block(name).calibrator == c["calibrator"]
    assert result.ood["ood"]["none"]["auroc"] == old["ood"]["auroc"]
    trainer = {"calibrator": {"name": "temperature", "state": {"temperature": 1.5}}, "temperature": 1.5,
               "eval": {"n": 10, "ece": 0.2}, "eval_calibrated": {"n": 10, "ece": 0.1}}  # fmt: skip
    result = Assessment.from_json(trainer)
    assert result.block("temperature").metrics == {"n": 10, "ece": 0.1} and result.block("none").metrics["ece"] == 0.2


def test_textmix_calibrate_on_a_runs_saved_logits_reproduces_the_runs_numbers(tmp_path):
    """One producer: the run's metrics.json and ``textmix calibrate`` on the run's saved validation
    and test logits, with the run's calibrators, conformal sets, bootstrap and seed, hold the same
    test blocks to the last bit."""
    from toy_task import TOY

    import textmix.engine as engine
    from textmix.cli import main
    from textmix.engine.recipe import recipe_from_dict

    conformal = {"alpha": [0.1], "methods": ["lac", "aps"]}  # split 0: the calibrators' rows calibrate the sets
    evaluation = {**TOY["eval"], "calibrators": CALIBRATORS, "conformal": conformal, "bootstrap_resamples": 200}
    recipe = recipe_from_dict({**TOY, "eval": evaluation})
    engine.train(recipe, tmp_path / "run")
    with np.load(tmp_path / "run" / "predictions.npz") as saved:
        for split in ("val", "test"):
            np.savez(tmp_path / f"{split}.npz", logits=saved[f"{split}_logits"], label=saved[f"{split}_labels"])
    assert main(["calibrate", str(tmp_path / "test.npz"), "--logits", "logits", "--labels", "label",
                 "--val", str(tmp_path / "val.npz"), "--calibrators", ",".join(CALIBRATORS), "--conformal", "0.1",
                 "--conformal-methods", "lac,aps", "--bootstrap", "200", "--seed", str(recipe.train.seed),
                 "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    ours = Assessment.from_json(json.loads((tmp_path / "out" / "calibration.json").read_text()))
    theirs = Assessment.from_json(json.loads((tmp_path / "run" / "metrics.json").read_text()))
    assert ours.chosen == theirs.chosen and list(ours.test.blocks) == list(theirs.test.blocks)
    for name, block in theirs.test.blocks.items():
        assert ours.test.blocks[name] == block, name  # metrics, intervals, val, cross-fit, calibrator, sets
