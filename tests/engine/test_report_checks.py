"""textmix.engine.report.checks: ``textmix report`` names a damaged metrics.json (file and key) before
drawing anything: NaN, strings where numbers belong, missing or mistyped blocks, a chosen calibrator
that was never fitted; a block one run lacks is said, not silently shown as "—"."""

import json
import logging
import math
import shutil
from pathlib import Path

import pytest
import yaml

from textmix.core.errors import RunDirError
from textmix.engine.report import report
from textmix.engine.sweep import sweep


@pytest.fixture(scope="module")
def toy_sweep(tmp_path_factory):
    from toy_task import TOY

    folder = tmp_path_factory.mktemp("report_checks")
    recipe = folder / "toy.yaml"
    evaluation = {"bootstrap_resamples": 0, "calibrators": ["temperature", "isotonic"],
                  "conformal": {"alpha": [0.1]}, "risk_control": {"risk": [0.2]}}  # fmt: skip
    values = {**TOY, "train": {**TOY["train"], "epochs": 1}, "eval": evaluation}
    recipe.write_text(yaml.safe_dump(values))
    sweep(recipe, {}, [1, 2, 3], [], folder / "runs")
    return folder / "runs"


def damaged(toy_sweep: Path, tmp_path: Path, edit) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(toy_sweep, runs)
    path = runs / "seed=2" / "metrics.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    return runs


def lac(m):
    return m["conformal"]["results"]["0.1"]["lac"]["none"]


CASES = {
    "a string metric of a calibrator": (lambda m: m["calibrated"]["temperature"]["test"].__setitem__("ece", "low"),
                                        "field calibrated.temperature.test.ece is 'low', not a number"),
    "a NaN metric of a calibrator": (lambda m: m["calibrated"]["temperature"]["test"].__setitem__("ece", math.nan),
                                     "field calibrated.temperature.test.ece is nan, not a number"),
    "a calibrator block without test metrics": (lambda m: m["calibrated"]["isotonic"].pop("test"),
                                                "field calibrated.isotonic has no 'test' metrics"),
    "calibrated as a list": (lambda m: m.__setitem__("calibrated", [1]), "field calibrated is list, not a mapping"),
    "a string coverage": (lambda m: lac(m).__setitem__("coverage", "high"),
                          "field conformal.results.0.1.lac.none.coverage is 'high'"),
    "a NaN coverage": (lambda m: lac(m).__setitem__("coverage", math.nan),
                       "conformal.results.0.1.lac.none.coverage is nan"),
    "a NaN noise floor": (lambda m: m["floor"]["test"]["ece"].__setitem__("p95", math.nan),
                          "field floor.test.ece.p95 is nan"),
    "an infinite training loss": (lambda m: m["history"][0].__setitem__("train_loss", math.inf),
                                  "field history[0].train_loss is inf"),
    "a missing method": (lambda m: m.pop("method"), "field method is None, not a method's name"),
    "an unknown method": (lambda m: m.__setitem__("method", "nosuch"), "method 'nosuch' is unknown"),
    "a chosen calibrator never fitted": (lambda m: m["calibrator_choice"].__setitem__("chosen", "beta"),
                                         "field calibrator_choice.chosen is 'beta', which the run did not fit"),
    "a string bin count": (lambda m: m.__setitem__("n_bins", "15"), "field n_bins is '15', not a number"),
    "a damaged stored calibrator": (
        lambda m: m["calibrated"]["temperature"]["calibrator"]["state"].__setitem__("temperature", -1),
        "field calibrated.temperature.calibrator (temperature) holds an invalid state"),
    "a boolean risk": (lambda m: m["risk_control"]["results"]["0.2"]["none"].__setitem__("risk", True),
                       "field risk_control.results.0.2.none.risk is True"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_metrics_file_is_named_with_its_key(case, toy_sweep, tmp_path):
    edit, message = CASES[case]
    runs = damaged(toy_sweep, tmp_path, edit)
    with pytest.raises(RunDirError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as error:
        report([runs], tmp_path / "report")
    assert "seed=2/metrics.json" in str(error.value)
    assert not (tmp_path / "report").exists()


def test_a_block_one_run_lacks_is_said_with_its_file(toy_sweep, tmp_path, caplog):
    runs = damaged(toy_sweep, tmp_path, lambda m: m["conformal"]["results"]["0.1"].pop("lac"))
    with caplog.at_level(logging.WARNING):
        report([runs], tmp_path / "report")
    assert "seed=2/metrics.json lacks conformal.results.0.1.lac, which other runs of" in caplog.text


def test_an_untouched_sweep_reports_without_a_warning(toy_sweep, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="textmix.engine.report.checks"):
        report([toy_sweep], tmp_path / "report")
    assert caplog.records == [] and any((tmp_path / "report").glob("*.md"))
