"""textmix.core.conformal.stored and the model folder's stored sets and abstention tables: a damaged
conformal calibration, tuning setting, Mondrian group list, risk–coverage table or risk-control
table is named in one line when the model loads, never turned into other sets with exit 0."""

import json
import math
import shutil
import subprocess
import sys

import pytest

import textmix
from textmix.core.conformal import make_score
from textmix.core.conformal.stored import check_sorted_scores, state_number
from textmix.core.errors import HubError


def test_state_number_takes_only_finite_numbers_in_range():
    assert state_number({"lam": 0.2}, "lam", 0) == 0.2 and state_number({"k": 3.0}, "k", 0, integer=True) == 3
    for bad in ("0.2", True, None, math.nan, math.inf, -0.1):
        with pytest.raises(ValueError, match=r"'lam' must be a number in \[0, inf\]"):
            state_number({"lam": bad}, "lam", 0)
    with pytest.raises(ValueError, match="'k' must be a whole number"):
        state_number({"k": 2.5}, "k", 0, integer=True)


def test_sorted_scores_are_checked_for_range_order_and_groups():
    lac, raps = make_score("lac"), make_score("raps")
    assert [g.tolist() for g in check_sorted_scores(lac, [0.0, 0.2, 1.0], False, 2)] == [[0.0, 0.2, 1.0]]
    assert check_sorted_scores(raps, [0.1, 1.9], False, 3)[0].tolist() == [0.1, 1.9]  # RAPS exceeds 1
    cases = [
        (lac, [0.3, 0.1], False, "sorted from smallest to largest"),
        (lac, [-0.4, 0.1], False, r"must lie in \[0, 1\] for lac"),
        (lac, [0.1, 1.7], False, r"must lie in \[0, 1\] for lac"),
        (lac, [0.1, math.nan], False, "NaN or infinite"),
        (lac, [], False, "non-empty list of numbers"),
        (lac, [0.1, "0.2"], False, "non-empty list of numbers"),
        (lac, [[0.1], [0.2]], True, "3 classes, 2 groups"),
    ]
    for score, scores, mondrian, message in cases:
        with pytest.raises(ValueError, match=message):
            check_sorted_scores(score, scores, mondrian, 3)


def damage(edit):
    """Edit the conformal / table fields of a stored textmix.json."""

    def apply(info):
        edit(info)
        return info

    return apply


CASES = {
    "a negative LAC score": (lambda i: i["conformal"]["methods"]["lac"]["sorted_scores"].__setitem__(0, -0.5),
                             "field 'conformal' is damaged", r"must lie in \[0, 1\]"),
    "a NaN RAPS lambda": (lambda i: i["conformal"]["methods"]["raps"]["score_state"].__setitem__("lam", math.nan),
                          "field 'conformal' is damaged", "'lam' must be a number"),
    "a quoted RAPS k_reg": (lambda i: i["conformal"]["methods"]["raps"]["score_state"].__setitem__("k_reg", "3"),
                            "field 'conformal' is damaged", "'k_reg' must be a whole number"),
    "a quoted randomized flag": (
        lambda i: i["conformal"]["methods"]["aps"]["score_state"].__setitem__("randomized", "false"),
        "field 'conformal' is damaged", "'randomized' must be true or false"),
    "five Mondrian groups for six classes": (
        lambda i: i["conformal"]["methods"]["lac"].update(
            mondrian=True, sorted_scores=[i["conformal"]["methods"]["lac"]["sorted_scores"]] * 5),
        "field 'conformal' is damaged", "6 classes, 5 groups"),
    "a coverage table without risks": (lambda i: i["validation_coverage"].pop("risk"),
                                       "field 'validation_coverage' is damaged", "a mapping of"),
    "a coverage table with rising thresholds": (lambda i: i["validation_coverage"]["threshold"].reverse(),
                                                "field 'validation_coverage' is damaged", "threshold fall"),
    "a coverage table with a NaN risk": (lambda i: i["validation_coverage"]["risk"].__setitem__(3, math.nan),
                                         "field 'validation_coverage' is damaged", "finite numbers"),
    "risk-control thresholds out of order": (lambda i: i["risk_control"]["selective"]["thresholds"].reverse(),
                                             "field 'risk_control' is damaged", "thresholds must be falling"),
}  # fmt: skip


@pytest.fixture
def damaged_run(trec_predictions, tmp_path):
    def make(edit):
        run = tmp_path / "run"
        shutil.copytree(trec_predictions["run"], run)
        path = run / "model" / "textmix.json"
        info = json.loads(path.read_text())
        edit(info)
        path.write_text(json.dumps(info))
        return run

    return make


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_stored_table_is_named_when_the_model_loads(case, damaged_run):
    edit, field, message = CASES[case]
    with pytest.raises(HubError, match=message) as error:
        textmix.load_model(damaged_run(edit))
    assert field in str(error.value)


def test_predict_names_a_damaged_conformal_state_in_one_line(damaged_run):
    run = damaged_run(CASES["a quoted randomized flag"][0])
    result = subprocess.run([sys.executable, "-m", "textmix", "predict", str(run), "what is a dog ?",
                             "--conformal", "0.1"], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert "field 'conformal' is damaged" in result.stderr and "'randomized'" in result.stderr


def test_the_stored_tables_of_a_real_run_load_as_they_are(trec_predictions):
    model = textmix.load_model(trec_predictions["run"])
    assert len(model.predict_set(["what is a dog ?"], 0.1, "raps")[0]) >= 1
