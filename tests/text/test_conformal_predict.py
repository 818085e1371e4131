"""predict --conformal and load_model(...).predict_set on a trained MR model: label sets from the
calibration scores the model folder keeps, the same as computed by hand from them."""

import json
import subprocess
import sys

import numpy as np
import pytest

import textmix
from textmix.engine import recipe_from_dict, train

SMALL = {
    "method": "mixup",
    "data": {"name": "mr", "max_train_examples": 300},
    "model": {"num_filters": 8},
    "train": {"epochs": 1, "batch_size": 25},
    "eval": {"bootstrap_resamples": 0},
}


def test_predict_sets_from_the_stored_scores(real_data, tmp_path):
    train(recipe_from_dict(SMALL), tmp_path / "run")
    model = textmix.load_model(tmp_path / "run")
    texts = ["a gripping, funny film", "a dull and tired sequel", "it is a film"]
    probs = model.predict_proba(texts)
    stored = json.loads((tmp_path / "run" / "model" / "textmix.json").read_text())["conformal"]["methods"]["lac"]
    scores = np.asarray(stored["sorted_scores"])  # LAC: 1 − p_y of the 1066 validation reviews, sorted
    assert len(scores) == 1066
    for alpha in (0.1, 0.3):
        q = scores[int(np.ceil(1067 * (1 - alpha))) - 1]
        by_hand = [[name for name, p in zip(model.label_names, row) if 1 - p <= q] for row in probs]
        assert model.predict_set(texts, alpha, "lac") == by_hand
    result = subprocess.run([sys.executable, "-m", "textmix.cli", "predict", str(tmp_path / "run"), texts[0],
                             "--conformal", "0.1", "--jsonl"], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip())["set"] == model.predict_set(texts[:1], 0.1)[0]  # LAC by default
    with pytest.raises(textmix.TextmixError, match="conformal scores were computed on temperature probabilities"):
        textmix.load_model(tmp_path / "run", calibrator="none").predict_set(texts, 0.1)
