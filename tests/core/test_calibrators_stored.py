"""textmix.core.calibrators.stored: a stored calibrator is checked against the model it belongs to
before use. Structural damage is refused with the field named; finite but degenerate states are
warned about with the value named; calibrators fitted on real predictions pass silently."""

import json
import logging
import shutil
import subprocess
import sys

import pytest

from textmix.core.calibrators import BUILT_IN, calibrator_from_json, make_calibrator
from textmix.core.errors import ArgumentError

ALL = tuple(cls.name for cls in BUILT_IN)
BINARY_ONLY = {"platt", "beta"}
WHERE = "textmix.json field 'calibrator'"


def fitted_json(name: str, predictions: dict) -> dict:
    return make_calibrator(name).fit(predictions["val_logits"], predictions["val_labels"]).to_json()


@pytest.mark.parametrize("name", ALL)
def test_calibrators_fitted_on_real_predictions_load_without_a_word(name, mr_predictions, trec_predictions, caplog):
    for predictions in (mr_predictions, trec_predictions):
        k = predictions["val_logits"].shape[1]
        if name in BINARY_ONLY and k != 2:
            continue
        saved = fitted_json(name, predictions)  # (the fit itself may warn of few examples a parameter)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            calibrator_from_json(saved, WHERE, num_classes=k)
        assert caplog.records == [], caplog.text


@pytest.mark.parametrize("name", sorted(set(ALL) - BINARY_ONLY - {"temperature", "ensemble_temperature"}))
def test_a_state_for_another_class_count_is_refused(name, trec_predictions):
    """A six-class state in a model of two (a calibrator copied from another model): the maps or
    weights would be applied to the wrong columns, or crash on the first text."""
    saved = fitted_json(name, trec_predictions)
    with pytest.raises(ArgumentError, match=r"holds a state for 6 classes but the model has 2"):
        calibrator_from_json(saved, WHERE, num_classes=2)
    assert calibrator_from_json(saved, WHERE, num_classes=6).name == name


@pytest.mark.parametrize("name", sorted(BINARY_ONLY))
def test_a_binary_calibrator_in_a_model_of_more_classes_is_refused(name, mr_predictions):
    with pytest.raises(ArgumentError, match=rf"{WHERE}: calibrator {name} is for two classes; this model has 6"):
        calibrator_from_json(fitted_json(name, mr_predictions), WHERE, num_classes=6)


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("histogram", lambda s: s["classes"][0]["edges"].__setitem__(-1, 1.5), "bin edges must run from 0 to 1"),
        ("histogram", lambda s: s["classes"][0]["edges"].__setitem__(0, -0.5), "bin edges must run from 0 to 1"),
        ("histogram", lambda s: s["classes"][0]["edges"].reverse(), "edges must not decrease"),
        ("histogram", lambda s: s.__setitem__("classes", []), "holds 0 per-class maps"),
        ("isotonic", lambda s: s.__setitem__("classes", []), "holds 0 per-class maps"),
        ("isotonic", lambda s: s["classes"].append(s["classes"][0]), "holds 2 per-class maps"),
        ("isotonic", lambda s: s["classes"][0]["x"].__setitem__(-1, 7.0), "must lie in \\[0, 1\\]"),
        ("vector", lambda s: s["weight"].__setitem__(0, float("nan")), "must be finite"),
    ],
)
def test_damaged_maps_are_refused_with_the_field_named(name, edit, message, mr_predictions):
    saved = fitted_json(name, mr_predictions)
    edit(saved["state"])
    with pytest.raises(ArgumentError, match=message) as error:
        calibrator_from_json(json.loads(json.dumps(saved)), WHERE, num_classes=2)
    assert WHERE in str(error.value)


@pytest.mark.parametrize(
    ("saved", "said"),
    [
        ({"name": "temperature", "state": {"temperature": 1e-6}}, "temperature=1e-06) makes nearly every probability"),
        ({"name": "platt", "state": {"a": -1.5, "b": 0.0}}, "a=-1.5, b=0) reverses the order"),
        ({"name": "beta", "state": {"a": 0.0, "b": 0.0, "c": 0.3}}, "gives the same probabilities whatever"),
        ({"name": "vector", "state": {"weight": [-1.0, -1.0], "bias": [0.0, 0.0]}}, "reverses the order"),
    ],
)
def test_degenerate_but_finite_states_are_warned_about_with_the_value(saved, said, caplog):
    with caplog.at_level(logging.WARNING):
        calibrator_from_json(saved, WHERE, num_classes=2)
    assert said in caplog.text and WHERE in caplog.text


def test_a_calibrator_for_another_model_in_a_model_folder_stops_predict_in_one_line(mr_predictions, tmp_path):
    """Through the CLI: a run whose textmix.json carries a six-class calibrator."""
    run = tmp_path / "run"
    shutil.copytree(mr_predictions["run"], run)
    info_path = run / "model" / "textmix.json"
    info = json.loads(info_path.read_text())
    info["calibrator"] = {"name": "vector", "state": {"weight": [1.0] * 6, "bias": [0.0] * 6}}
    info_path.write_text(json.dumps(info))
    result = subprocess.run([sys.executable, "-m", "textmix", "predict", str(run), "a fine film"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "field 'calibrator' (vector) holds a state for 6 classes but the model has 2" in result.stderr


def test_a_calibrator_in_a_transformers_config_gets_the_same_checks(tmp_path):
    """``textmix_calibrator`` in a ``config.json`` (a MixupTrainer output): checked against ``id2label``."""
    from textmix.core.errors import HubError
    from textmix.text.model_folder import saved_calibrator, stock_info

    matrix = {"name": "matrix", "state": {"weight": [[1.0] * 3] * 3, "bias": [0.0] * 3}}
    config = {"model_type": "bert", "id2label": {"0": "neg", "1": "pos"}, "textmix_calibrator": matrix}
    with pytest.raises(HubError, match=r"config.json field 'textmix_calibrator' \(matrix\) holds a state for 3"):
        saved_calibrator(stock_info(config, tmp_path), tmp_path / "config.json", field="textmix_calibrator")
