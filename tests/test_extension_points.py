"""The extension points hold: a training method and a post-hoc calibrator defined in this file only
(one class each and a registration call) train through ``textmix train``, are re-evaluated by
``textmix evaluate``, predict through ``textmix predict`` / ``load_model`` and train in MixupTrainer,
with no other file changed."""

import json

import numpy as np
import pytest
import torch
import yaml
from transformers import TrainingArguments

import textmix
from textmix.cli import main
from textmix.core.calibrators import Calibrator, register_calibrator
from textmix.core.losses import soft_target_cross_entropy
from textmix.core.methods import Method, Param, register_method


class WeightedMixup(Method):
    """Mixup whose loss is multiplied by ``loss.test_weight``."""

    name = "test_weighted_mixup"
    mixing = "full"
    params = {"test_weight": Param(1.0, "weight of the loss.", lambda v: v > 0, "> 0", symbol="w")}

    def loss(self, logits, targets):
        return self.test_weight * soft_target_cross_entropy(logits, targets)


class HalveLogits(Calibrator):
    """softmax(z / 2) once fitted (a fixed map: its fit only records that it ran)."""

    name = "test_halving"

    def __init__(self):
        self.factor = 1.0

    def _fit(self, logits, labels):
        self.factor = 0.5

    def _scale(self, logits):
        return logits * self.factor

    def state_dict(self):
        return {"factor": self.factor}

    def load_state_dict(self, state):
        self.factor = float(state["factor"])


register_method(WeightedMixup)
register_calibrator(HalveLogits)

RECIPE = {
    "method": "test_weighted_mixup",
    "loss": {"test_weight": 3.0},
    "data": {"name": "mr", "max_train_examples": 300},
    "model": {"num_filters": 8},
    "train": {"epochs": 1, "batch_size": 25},
    "eval": {"calibrators": ["temperature", "test_halving"], "calibrator": "test_halving", "bootstrap_resamples": 0},
}


def test_a_method_and_a_calibrator_of_this_file_train_evaluate_and_predict(real_data, tmp_path, capsys):
    recipe, run = tmp_path / "recipe.yaml", tmp_path / "run"
    recipe.write_text(yaml.safe_dump(RECIPE))
    assert main(["train", str(recipe), "--output-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["method"] == "test_weighted_mixup" and metrics["history"][0]["train_loss"] > 1.0  # 3 × CE
    assert metrics["calibrated"]["test_halving"]["calibrator"] == {"name": "test_halving", "state": {"factor": 0.5}}
    assert all("crossfit_val" in metrics["calibrated"][name] for name in ("temperature", "test_halving"))
    info = json.loads((run / "model" / "textmix.json").read_text())
    assert info["calibrator"] == {"name": "test_halving", "state": {"factor": 0.5}}

    assert main(["evaluate", str(run)]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["calibrated"]["test_halving"]["test"] == pytest.approx(
        metrics["calibrated"]["test_halving"]["test"]
    )

    model = textmix.load_model(run)
    texts = ["a gripping, funny film", "a dull and tired sequel"]
    logits = model.logits(texts)
    np.testing.assert_allclose(model.predict_proba(texts), torch.softmax(torch.from_numpy(logits) / 2, 1).numpy())
    np.testing.assert_allclose(textmix.load_model(run, calibrator="none").predict_proba(texts),
                               torch.softmax(torch.from_numpy(logits), 1).numpy())  # fmt: skip
    temperature = metrics["calibrated"]["temperature"]["calibrator"]["state"]["temperature"]
    np.testing.assert_allclose(textmix.load_model(run, calibrator="temperature").predict_proba(texts),
                               torch.softmax(torch.from_numpy(logits) / temperature, 1).numpy())  # fmt: skip
    capsys.readouterr()
    for flags, expected in (([], model.predict_proba(texts[:1])), (["--calibrator", "none"], None)):
        assert main(["predict", str(run), texts[0], "--jsonl", *flags]) == 0
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        raw = torch.softmax(torch.from_numpy(logits[:1]), 1).numpy()
        assert printed["probability"] == pytest.approx((raw if expected is None else expected).max())
    assert main(["predict", str(run), texts[0], "--calibrator", "isotonic"]) == 2  # not stored: one line


def test_the_same_method_and_calibrator_in_mixup_trainer(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from textmix.integrations.transformers import MixupTrainer

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(5, 40, (6,), generator=g).tolist(), "attention_mask": [1] * 6, "labels": i % 2}
            for i in range(16)]  # fmt: skip
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, report_to=[],
                             save_strategy="no", use_cpu=True)  # fmt: skip
    trainer = MixupTrainer(model=model, args=args, train_dataset=rows, eval_dataset=rows, method="test_weighted_mixup",
                           test_weight=2.0, calibrator="test_halving")  # fmt: skip
    assert trainer.method.test_weight == 2.0
    trainer.train()
    assert model.config.textmix_calibrator == {"name": "test_halving", "state": {"factor": 0.5}}
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["calibrated"]["test_halving"]["calibrator"]["name"] == "test_halving" and saved["test"]["n"] == 16
