"""eval.shift: calibration on another domain with the same labels (MR → IMDB reviews)."""

import gzip
import json

import numpy as np
import pytest

import textmix
from textmix.core.errors import RecipeError
from textmix.core.metrics import calibration_report
from textmix.engine import recipe_from_dict, train


@pytest.mark.data("imdb")
def test_an_mr_model_evaluated_on_imdb_reviews(real_data, tmp_path):
    rows = []
    with gzip.open(real_data / "imdb" / "test.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            rows.append({"text": record["text"], "label": ["neg", "pos"][int(record["label"])]})
    rng = np.random.default_rng(0)
    chosen = [rows[i] for i in rng.choice(len(rows), 300, replace=False)]
    shifted = tmp_path / "imdb_300.jsonl"
    shifted.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    recipe = recipe_from_dict(
        {
            "method": "mixup",
            "data": {"name": "mr", "max_train_examples": 500},
            "model": {"num_filters": 8},
            "train": {"epochs": 1, "batch_size": 25},
            "eval": {
                "shift": [str(shifted)],
                "bootstrap_resamples": 200,
                "conformal": {"alpha": [0.1], "methods": ["lac"], "split": 0.3},
            },
        }
    )
    metrics = train(recipe, tmp_path / "run")
    report = metrics["shift"][str(shifted)]
    assert report["n"] == 300 and report["test"]["n"] == 300
    # the saved model, applied to the same reviews, gives the same numbers (labels by name: neg, pos)
    model = textmix.load_model(tmp_path / "run")
    labels = np.array([["neg", "pos"].index(r["label"]) for r in chosen])
    probs = model.predict_proba([r["text"] for r in chosen], calibrated=False)
    assert report["test"] == pytest.approx(calibration_report(probs, labels), abs=1e-6)
    scaled = model.predict_proba([r["text"] for r in chosen])  # the in-domain temperature
    assert report["calibrated"]["temperature"]["test"] == pytest.approx(calibration_report(scaled, labels), abs=1e-6)
    # conformal sets calibrated in-domain, measured on the shifted reviews: the saved model's sets
    sets = model.predict_set([r["text"] for r in chosen], alpha=0.1, method="lac")
    in_set = [["neg", "pos"][y] in s for y, s in zip(labels, sets)]
    lac = report["conformal"]["0.1"]["lac"]["temperature"]
    assert lac["n"] == 300 and "intervals" not in lac  # seeds give the intervals of a shifted set
    assert lac["coverage"] == pytest.approx(np.mean(in_set))
    assert lac["mean_size"] == pytest.approx(np.mean([len(s) for s in sets]))
    assert set(report["conformal"]["0.1"]["lac"]) == {"none", "temperature"}
    # weighted split conformal: calibration rows and shifted reviews weighted by the domain classifier's
    # likelihood ratio on the model's pooled features; in-domain test sets stay unweighted
    weighted = report["conformal"]["0.1"]["lac weighted"]
    assert set(weighted) == {"none", "temperature"} and weighted["temperature"]["n"] == 300
    assert 0 <= weighted["temperature"]["coverage"] <= 1 and 1 <= weighted["temperature"]["mean_size"] <= 2
    assert "lac weighted" not in metrics["conformal"]["results"]["0.1"]
    interval = report["intervals"]["ece"]
    assert interval["low"] <= report["test"]["ece"] <= interval["high"]
    from textmix.engine.report import report as write_report

    write_report([tmp_path / "run"], tmp_path / "report", figure_kinds=[])
    table = (tmp_path / "report" / "README.md").read_text()
    row = f"| mr / kim_cnn | mixup α=0.4 | {shifted.name} | 300 | {100 * report['test']['accuracy']:.2f} | "
    assert row in table


def test_a_shift_set_with_another_label_space_is_refused_before_training(tmp_path):
    with pytest.raises(RecipeError, match="eval.shift 'trec' has another label space than data.name='mr'"):
        recipe_from_dict({"eval": {"shift": ["trec"]}})
    with pytest.raises(RecipeError, match="eval.shift entry 'nope.csv' is neither a dataset"):
        recipe_from_dict({"eval": {"shift": ["nope.csv"]}})
    assert recipe_from_dict({"eval": {"shift": ["imdb"]}}).eval.shift == ["imdb"]
    with pytest.raises(RecipeError, match="eval.shift is not supported for vision"):
        recipe_from_dict({"task": "vision", "eval": {"shift": ["cifar10"]}})
