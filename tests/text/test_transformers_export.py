"""Models the Hugging Face stack loads as its own: a textmix transformer with the stock head
(``pooling: pooler``) pushed as a ``...ForSequenceClassification`` that ``transformers`` loads with
no textmix installed and no remote code, and ``MixupTrainer`` outputs that name their classes and
load in textmix with their calibrator."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import textmix
import textmix.text.hub as hub
from textmix.engine.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["a gripping, funny film", "dull and far too long", "an honest, moving story"]

# runs in a process where `import textmix` fails: what a user of transformers alone has
WITHOUT_TEXTMIX = """
import json, sys
sys.modules["textmix"] = None
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline
folder, texts = sys.argv[1], json.loads(sys.argv[2])
config = AutoConfig.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
tokens = AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")
with torch.no_grad():
    probs = torch.softmax(model(**tokens).logits.double(), -1).tolist()
scored = pipeline("text-classification", model=folder, top_k=None)(texts)
piped = [{row["label"]: row["score"] for row in rows} for rows in scored]
print(json.dumps({"id2label": config.id2label, "probs": probs, "pipeline": piped}))
"""


def test_a_pushed_pooler_model_loads_in_transformers_alone_with_textmix_probabilities(small_minilm_run, tmp_path):
    out = Path(hub.push_run(small_minilm_run, "me/mr-minilm", dry_run=tmp_path / "upload"))
    card = (out / "README.md").read_text()  # MiniLM's own license by default; pipeline() loads it: the tag
    assert "license: apache-2.0" in card and "pipeline_tag: text-classification" in card
    assert 'pipeline("text-classification", model="me/mr-minilm"' in card
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TEXTMIX, str(out), json.dumps(TEXTS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["id2label"] == {"0": "neg", "1": "pos"}
    ours = textmix.load_model(small_minilm_run, calibrator="none").predict_proba(TEXTS)  # uncalibrated
    np.testing.assert_allclose(loaded["probs"], ours, atol=1e-5)
    piped = np.array([[row["neg"], row["pos"]] for row in loaded["pipeline"]])
    np.testing.assert_allclose(piped, ours, atol=1e-5)
    # textmix reads the same folder: the network from transformers' layout, the rest from textmix.json
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and "textmix_calibrator" in config
    ours = textmix.load_model(small_minilm_run).predict_proba(TEXTS)
    np.testing.assert_allclose(textmix.load_model(out).predict_proba(TEXTS), ours, atol=1e-6)


@pytest.mark.parametrize(
    "recipe", sorted(REPO.glob("recipes/*/minilm_*.yaml")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_every_transformer_recipe_trains_the_stock_head(recipe):
    """HF-native by default: each transformer recipe resolves to pooling: pooler (the head push exports
    as a stock ...ForSequenceClassification), and so does a transformer recipe that does not say."""
    assert load_recipe(recipe).model.pooling == "pooler"


def test_a_transformer_recipe_without_pooling_gets_the_stock_head(tmp_path):
    recipe = tmp_path / "bare.yaml"
    recipe.write_text("method: baseline\ndata:\n  name: mr\nmodel:\n  name: transformer\n  pretrained: minilm\n")
    assert load_recipe(recipe).model.pooling == "pooler"
    assert len(list(REPO.glob("recipes/*/minilm_*.yaml"))) >= 3 * 13  # MR, TREC, IMDB × every method


def test_a_mean_pooled_model_is_not_exported_as_something_else():
    from textmix.text.models.transformer import TransformerClassifier

    model = TransformerClassifier.from_backbone("minilm", num_classes=2, pooling="mean")
    with pytest.raises(ValueError, match="pooling 'mean' has no stock transformers head; train with pooling: pooler"):
        model.to_transformers(["neg", "pos"])
    exported = TransformerClassifier.from_backbone("minilm", num_classes=2, pooling="pooler").eval()
    stock = exported.to_transformers(["neg", "pos"]).eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 2143, 102]])
    with torch.no_grad():
        torch.testing.assert_close(stock(input_ids=ids).logits, exported(ids, torch.ones_like(ids)))


def test_a_mixup_trainer_model_names_its_classes_and_loads_calibrated_in_textmix(tmp_path):
    from datasets import ClassLabel, Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

    from textmix.integrations.transformers import MixupTrainer
    from textmix.text.models.transformer import resolve_checkpoint

    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    texts = ["a fine film", "a dull film", "loved it", "hated it", "wonderful", "awful"] * 4
    rows = Dataset.from_dict({"text": texts, "label": [1, 0] * 12})
    rows = rows.cast_column("label", ClassLabel(names=["neg", "pos"]))
    rows = rows.map(lambda b: tokenizer(b["text"], truncation=True, max_length=16), batched=True)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True, num_train_epochs=1,
                             per_device_train_batch_size=8, save_strategy="no", logging_strategy="no")  # fmt: skip
    trainer = MixupTrainer(model=model, args=args, train_dataset=rows, eval_dataset=rows, processing_class=tokenizer,
                           calibrator="temperature")  # fmt: skip
    assert model.config.id2label == {0: "neg", 1: "pos"}
    trainer.train()
    trainer.save_model()
    loaded = textmix.load_model(tmp_path / "out")
    assert loaded.label_names == ["neg", "pos"] and loaded.calibrator is not None
    tokens = tokenizer(["a fine film"], return_tensors="pt")
    with torch.no_grad():
        logits = model.eval()(**tokens).logits.double()
    expected = torch.softmax(logits / loaded.calibrator.temperature, -1).numpy()
    np.testing.assert_allclose(loaded.predict_proba(["a fine film"]), expected, atol=1e-5)


def test_pushing_a_transformer_without_the_stock_head_says_it_needs_textmix(small_minilm_run, tmp_path, caplog):
    """A mean-pooled run (its recipe says so) is uploaded in textmix's layout: the push says it in
    one line, the card says it, and the card claims no pipeline_tag."""
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(small_minilm_run, run)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["model"]["pooling"] = "mean"
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with caplog.at_level("WARNING"):
        out = Path(hub.push_run(run, "me/mr-minilm-mean", dry_run=tmp_path / "upload"))
    assert "uses pooling: mean, which no transformers class has: the upload loads with textmix only" in caplog.text
    card = (out / "README.md").read_text()
    assert "pipeline_tag" not in card and "needs textmix to run" in card and "license: apache-2.0" in card
