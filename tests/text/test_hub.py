"""Sharing models: load_model / predict round trips, push --dry-run folder, the upload call, errors."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
import yaml
from conftest import data_dir

import textmix
import textmix.engine as engine
import textmix.text.hub as hub
from textmix.core.errors import HubError
from textmix.engine.recipe import recipe_from_dict
from textmix.text.card_license import CardLicense
from textmix.text.datasets import read_mr
from textmix.text.model_folder import SAFE_PATTERNS

SECRET = "hf_textmixTestTokenThatMustNeverBeWritten"
UPLOAD_FILES = {
    "README.md",
    "config.json",
    "featurizer.json",
    "metrics.json",
    "model.safetensors",
    "reliability.png",
    "textmix.json",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = data_dir()
    if folder is None:
        pytest.skip("real data not found: set TEXTMIX_DATA_DIR to the shared data folder (../shared/data)")
    os.environ["TEXTMIX_DATA_DIR"] = str(folder)
    recipe = recipe_from_dict(
        {
            "method": "mixup",
            "data": {"name": "mr", "max_train_examples": 400},
            "model": {"num_filters": 16},
            "train": {"epochs": 2, "batch_size": 25},
        }
    )
    run = tmp_path_factory.mktemp("hub") / "run"
    engine.train(recipe, run)
    return run


@pytest.fixture(scope="module")
def test_texts(run_dir):
    from textmix.text.task import load_splits

    return load_splits(recipe_from_dict({"data": {"name": "mr"}}).data)["test"]["text"]


def test_round_trip_gives_identical_probabilities(run_dir, test_texts):
    model = textmix.load_model(run_dir)
    saved = np.load(run_dir / "predictions.npz")
    np.testing.assert_allclose(model.predict_proba(test_texts, calibrated=False), saved["test_probs"], atol=1e-6)
    calibrator = json.loads((run_dir / "metrics.json").read_text())["calibrated"]["temperature"]["calibrator"]
    temperature = calibrator["state"]["temperature"]
    assert model.temperature == pytest.approx(temperature)
    expected = torch.softmax(torch.from_numpy(saved["test_logits"]).double() / temperature, 1).numpy()
    np.testing.assert_allclose(model.predict_proba(test_texts), expected, atol=1e-6)
    assert model.label_names == ["neg", "pos"]


def test_dry_run_writes_exactly_the_upload_folder(run_dir, test_texts, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    out = tmp_path / "upload"
    hub.push_run(run_dir, "someone/mr-mixup", dry_run=out, license="cc-by-4.0")
    assert {p.name for p in out.iterdir()} == UPLOAD_FILES
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes()
    card = (out / "README.md").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "model-index" in card and "library_name: textmix" in card
    assert f"value: {round(metrics['test']['ece'], 6)}" in card
    assert "(α = 0.4)" in card and "reliability.png" in card and 'textmix.load_model("someone/mr-mixup")' in card
    # the noise floor beside ECE, mean (95th percentile), uncalibrated / after the chosen calibrator
    raw, after = (
        metrics["floor"]["test"]["ece"],
        metrics["calibrated"][metrics["calibrator_choice"]["chosen"]]["floor"]["ece"],
    )
    ece_row = next(line for line in card.splitlines() if line.startswith("| ECE |"))
    shown = f"{raw['mean']:.4f} ({raw['p95']:.4f}) / {after['mean']:.4f} ({after['p95']:.4f})"
    assert ece_row.endswith(f"| {shown} |") and "Noise floor:" in card
    original = textmix.load_model(run_dir).predict_proba(test_texts[:50])
    np.testing.assert_array_equal(textmix.load_model(out).predict_proba(test_texts[:50]), original)
    with pytest.raises(HubError, match="not empty"):
        hub.push_run(run_dir, "someone/mr-mixup", dry_run=out, license="cc-by-4.0")


def test_push_calls_create_repo_and_upload_folder(run_dir, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, **kwargs):
            calls.append(("create_repo", kwargs))
            return "https://huggingface.co/someone/mr-mixup"

        def upload_folder(self, **kwargs):
            files = {p.name for p in __import__("pathlib").Path(kwargs["folder_path"]).iterdir()}
            calls.append(("upload_folder", {**kwargs, "files": files}))

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: SECRET)
    url = hub.push_run(run_dir, "someone/mr-mixup", private=True, license="cc-by-4.0")
    assert url == "https://huggingface.co/someone/mr-mixup"
    assert calls[0] == ("create_repo", {"repo_id": "someone/mr-mixup", "private": True, "exist_ok": True})
    assert calls[1][0] == "upload_folder" and calls[1][1]["repo_id"] == "someone/mr-mixup"
    assert calls[1][1]["files"] == UPLOAD_FILES


def test_push_without_token_or_network_fails_clearly(run_dir, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(HubError, match="no Hugging Face token: run `hf auth login` or set HF_TOKEN"):
        hub.push_run(run_dir, "someone/mr-mixup")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="pushing to someone/mr-mixup failed") as error:
        hub.push_run(run_dir, "someone/mr-mixup", license="cc-by-4.0")
    assert SECRET not in str(error.value)
    with pytest.raises(HubError, match="user/name"):
        hub.push_run(run_dir, "no-namespace")


def test_loading_reads_no_pickles(tmp_path, run_dir):
    assert not any(p.endswith((".bin", ".pkl", ".pt", ".pth")) for p in SAFE_PATTERNS)
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("textmix.json", "config.json", "featurizer.json"):
        (folder / name).write_bytes((run_dir / "model" / name).read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not to be unpickled")
    with pytest.raises(HubError, match="safetensors weights only"):
        textmix.load_model(folder)
    with pytest.raises(HubError, match="could not be downloaded"):
        textmix.load_model("someone/not-downloadable-offline")


def test_predict_cli(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("a gripping , funny and moving film\n\nthe plot is a mess and the acting is wooden\n")
    command = [sys.executable, "-m", "textmix.cli", "predict", str(run_dir)]
    out = subprocess.run([*command, "--file", str(texts), "--jsonl"], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == [
        "a gripping , funny and moving film",
        "the plot is a mess and the acting is wooden",
    ]
    expected = textmix.load_model(run_dir).predict_proba([r["text"] for r in rows])
    for row, probs in zip(rows, expected):
        assert row["probability"] == pytest.approx(probs.max())
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    everything = subprocess.run([*command, "one text", "--abstain-below", "1.0"], capture_output=True, text=True)
    assert everything.stdout.startswith("abstain\t")
    nothing = subprocess.run([*command, "one text", "--abstain-below", "0"], capture_output=True, text=True)
    assert nothing.stdout.split("\t")[0] in ("neg", "pos")
    bad = subprocess.run([*command, "x", "--abstain-below", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "abstain_below must be a probability in [0, 1], got 2.0" in bad.stderr
    empty = subprocess.run([*command, "a fine film", "", "  "], capture_output=True, text=True)
    assert empty.returncode == 2 and empty.stdout == ""
    assert empty.stderr.strip().splitlines()[-1] == (
        "textmix: error: texts at positions [2, 3] are empty or whitespace only; remove them"
    )


def test_predict_refuses_what_has_nothing_to_classify(run_dir):
    from textmix.core.errors import ArgumentError

    model = textmix.load_model(run_dir)
    with pytest.raises(ArgumentError, match=r"positions \[1, 3\] are empty or whitespace only"):
        model.predict_proba(["", "a fine film", "\t\n"])
    with pytest.raises(ArgumentError, match=r"positions \[2\] are not strings \(NoneType\)"):
        model.predict(["a fine film", None])
    with pytest.raises(TypeError, match="not one string"):
        model.predict_proba("a fine film")
    assert model.predict_proba([]).shape == (0, 2)


def test_transformer_round_trip(tmp_path):
    from textmix.text.features import HFFeaturizer
    from textmix.text.models.transformer import TransformerClassifier, resolve_checkpoint
    from textmix.text.task import save_text_model

    torch.manual_seed(0)
    model = TransformerClassifier.from_backbone("minilm", num_classes=3).eval()
    featurizer = HFFeaturizer.from_pretrained(resolve_checkpoint("minilm"), max_length=32)
    info = {"model": "transformer", "num_classes": 3, "label_names": ["a", "b", "c"], "temperature": 1.5}
    (tmp_path / "model").mkdir()
    save_text_model(model, featurizer, tmp_path / "model")
    (tmp_path / "model" / "textmix.json").write_text(json.dumps(info))
    loaded = textmix.load_model(tmp_path / "model")
    texts = ["what a film", "a much longer sentence about nothing in particular at all"]
    ids = featurizer.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(ids["input_ids"], ids["attention_mask"])
    np.testing.assert_allclose(loaded.predict_proba(texts), torch.softmax(logits.double() / 1.5, 1).numpy(), atol=1e-5)


def test_recipe_hub_section_pushes_at_the_end(real_data, tmp_path, monkeypatch):
    """With its license; a push whose card could state none is refused before any training."""
    pushed = []
    monkeypatch.setattr(
        hub, "push_run", lambda run, repo, private, **license: pushed.append((run, repo, private, license)) or "url"
    )
    values = {
        "data": {"name": "mr", "max_train_examples": 200},
        "model": {"num_filters": 4},
        "train": {"epochs": 1, "batch_size": 50},
        "hub": {"push": True, "repo_id": "someone/x", "private": True},
    }
    with pytest.raises(HubError, match=r"hub.push: the card needs the weights' license.* give hub.license"):
        engine.train(recipe_from_dict(values), tmp_path / "refused")
    assert not (tmp_path / "refused" / "checkpoints").exists()
    values["hub"]["license"] = "cc-by-4.0"
    engine.train(recipe_from_dict(values), tmp_path / "run")
    licensed = {"license": "cc-by-4.0", "license_name": None, "license_link": None}
    assert pushed == [(tmp_path / "run", "someone/x", True, licensed)]


def test_predict_picks_the_abstention_threshold_from_the_validation_split(run_dir):
    """The old rule, kept as --validation-risk: no guarantee, and its message says so."""
    import numpy as np

    info = json.loads((run_dir / "model" / "textmix.json").read_text())
    table = info["validation_coverage"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(table["coverage"]) == 100 and table["coverage"][-1] == 1.0
    assert table["risk"][-1] == pytest.approx(1 - metrics["calibrated"]["temperature"]["val"]["accuracy"])
    assert table["threshold"] == sorted(table["threshold"], reverse=True)  # more coverage, lower threshold
    model = textmix.load_model(run_dir)
    threshold, coverage, risk = model.abstain_threshold(validation_risk=0.1)
    assert risk <= 0.1 and coverage == max(c for c, r in zip(table["coverage"], table["risk"]) if r <= 0.1)
    command = [sys.executable, "-m", "textmix.cli", "predict", str(run_dir), "a fine film", "a dull mess"]
    out = subprocess.run([*command, "--validation-risk", "0.1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"abstaining below p={threshold:.4f}: on validation {coverage:.0%} answered, risk {risk:.2%}" in out.stderr
    assert "no guarantee on new texts" in out.stderr
    probs = model.predict_proba(["a fine film", "a dull mess"]).max(1)
    answers = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert answers == ["abstain" if p < threshold else a for p, a in zip(probs, answers)]
    unreachable = subprocess.run([*command, "--validation-risk", "0"], capture_output=True, text=True)
    if model.abstain_threshold(validation_risk=0.0)[0] == float("inf"):  # no validation prefix is error-free
        assert unreachable.returncode == 0 and "abstaining on every text" in unreachable.stderr
        assert [line.split("\t")[0] for line in unreachable.stdout.splitlines()] == ["abstain", "abstain"]
    bad = subprocess.run([*command, "--target-risk", "0.1", "--abstain-below", "0.5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not allowed with argument" in bad.stderr
    assert np.isfinite(threshold)


def test_predict_abstains_with_a_guarantee_from_the_stored_counts(run_dir, tmp_path):
    """--target-risk: the Learn-then-Test threshold of the counts in textmix.json, the same as
    RiskControl fitted on the run's calibration probabilities; predict_or_abstain agrees; --out
    writes every result."""
    import numpy as np

    from textmix.core.risk_control import RiskControl

    info = json.loads((run_dir / "model" / "textmix.json").read_text())
    with np.load(run_dir / "predictions.npz") as p:
        probs = textmix.load_model(run_dir).calibrator(p["val_logits"].astype(np.float64))
        labels = p["val_labels"]
    assert info["risk_control"]["probabilities"] == "temperature" and info["risk_control"]["n"] == len(labels)
    model = textmix.load_model(run_dir)
    error = float((probs.argmax(1) != labels).mean())
    control = model.risk_threshold(0.8 * error, delta=0.2)
    assert control.threshold == RiskControl("selective", 0.8 * error, 0.2).fit(probs, labels).threshold
    texts = ["a fine film", "a dull mess", "it is a film"]
    abstained = [r["label"] == "abstain" for r in model.predict_or_abstain(texts, 0.8 * error, delta=0.2)]
    assert abstained == list(model.predict_proba(texts).max(1) < control.threshold)
    command = [sys.executable, "-m", "textmix.cli", "predict", str(run_dir), *texts, "--out", str(tmp_path / "r.csv")]
    out = subprocess.run(
        [*command, "--target-risk", str(0.8 * error), "--delta", "0.2"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "with probability >= 80% the error rate among answered texts is <=" in out.stderr or (
        control.threshold == float("inf") and "abstaining on every text" in out.stderr
    )
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0] == "text,label,best_label,probability,p_neg,p_pos" and len(rows) == 4
    assert [r.split(",")[1] == "abstain" for r in rows[1:]] == abstained
    old = copied_run(run_dir, tmp_path / "old")
    stored = json.loads((old / "model" / "textmix.json").read_text())
    del stored["risk_control"]
    (old / "model" / "textmix.json").write_text(json.dumps(stored))
    refused = subprocess.run([sys.executable, "-m", "textmix.cli", "predict", str(old), "a film", "--target-risk",
                              "0.1"], capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "no risk-control counts (trained with textmix < 0.4)" in refused.stderr
    damaged = {"thresholds": [0.5], "n": [3], "losses": [9]}  # more errors than answers
    stored["risk_control"] = {"probabilities": "temperature", "selective": damaged,
                              "miscoverage": info["risk_control"]["miscoverage"]}  # fmt: skip
    (old / "model" / "textmix.json").write_text(json.dumps(stored))
    with pytest.raises(textmix.TextmixError, match="field 'risk_control' is damaged"):
        textmix.load_model(old)


def copied_run(run_dir, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    (target / ".lock").unlink(missing_ok=True)
    return target


def test_a_symlink_in_the_run_is_never_uploaded(run_dir, tmp_path):
    """A link to a file outside the run (a credentials file) is refused, not followed into the upload."""
    run = copied_run(run_dir, tmp_path)
    secret = tmp_path / "credentials"
    secret.write_text("token")
    (run / "model" / "extra.json").symlink_to(secret)
    with pytest.raises(textmix.TextmixError, match="extra.json is not a regular file \\(to .*credentials\\)"):
        hub.prepare_upload(run, "me/x", tmp_path / "upload", CardLicense("cc-by-4.0"))
    assert not (tmp_path / "upload").exists()


@pytest.mark.parametrize(
    "field,value,phrase",
    [
        ("label_names", ["neg"], "'label_names' has 1 names but textmix.json num_classes is 2"),
        ("label_names", "neg,pos", "'label_names' must be a list of class names"),
        ("calibrator", {"name": "temperature", "state": {"temperature": 0}}, "holds an invalid state"),
        ("calibrator", {"name": "temperature", "state": {"temperature": float("nan")}}, "holds an invalid state"),
        ("calibrator", {"name": "temperature", "state": {"temperature": -1.5}}, "holds an invalid state"),
        ("calibrator", {"name": "temperature", "state": {"temperature": "hot"}}, "holds an invalid state"),
    ],
)
def test_a_damaged_model_folder_is_named_not_used(run_dir, tmp_path, field, value, phrase):
    run = copied_run(run_dir, tmp_path)
    info_path = run / "model" / "textmix.json"
    info = json.loads(info_path.read_text())
    info[field] = value
    info_path.write_text(json.dumps(info))
    with pytest.raises(textmix.TextmixError, match=phrase):
        textmix.load_model(run)


def test_a_vocabulary_larger_than_the_embedding_table_is_refused(run_dir, tmp_path):
    """Extra tokens would get ids past the table: some texts crash, others are answered."""
    run = copied_run(run_dir, tmp_path)
    path = run / "model" / "featurizer.json"
    config = json.loads(path.read_text())
    config["tokens"] += [f"extra{i}" for i in range(50)]
    path.write_text(json.dumps(config))
    with pytest.raises(HubError, match=r"vocabulary has \d+ tokens but the model's embedding table \d+ rows"):
        textmix.load_model(run)


def test_a_model_folder_that_points_at_custom_code_is_refused_without_advising_to_run_it(run_dir, tmp_path):
    run = copied_run(run_dir, tmp_path)
    path = run / "model" / "config.json"
    config = json.loads(path.read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    path.write_text(json.dumps(config))
    (run / "model" / "modeling_evil.py").write_text("raise SystemExit('code from the model folder ran')\n")
    result = subprocess.run(
        [sys.executable, "-m", "textmix.cli", "predict", str(run), "a fine film"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "textmix never runs code from a model folder" in result.stderr
    assert "trust_remote_code" not in result.stderr and "ran" not in result.stdout


def test_a_truncated_tokenizer_file_is_named_in_one_line(tmp_path):
    from textmix.text.features import HFFeaturizer
    from textmix.text.models.transformer import TransformerClassifier, resolve_checkpoint
    from textmix.text.task import save_text_model

    model = TransformerClassifier.from_backbone("minilm", num_classes=2)
    featurizer = HFFeaturizer.from_pretrained(resolve_checkpoint("minilm"), max_length=32)
    folder = tmp_path / "model"
    folder.mkdir()
    save_text_model(model, featurizer, folder)
    (folder / "textmix.json").write_text(
        json.dumps({"model": "transformer", "num_classes": 2, "label_names": ["n", "p"]})
    )
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:5000])  # a download cut short
    result = subprocess.run(
        [sys.executable, "-m", "textmix.cli", "predict", str(folder), "a fine film"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert f"the tokenizer files in {folder} are unreadable" in line and "damaged" in line


def test_predict_on_a_run_that_is_not_finished_says_which_model_it_uses(run_dir, tmp_path, caplog):
    from textmix.engine.run_directory import RunDir

    run = copied_run(run_dir, tmp_path)
    (run / "metrics.json").unlink()  # interrupted before its final evaluation
    epoch = json.loads((run / "model" / "textmix.json").read_text())["epoch"]
    with caplog.at_level("WARNING"):
        textmix.load_model(run)
    assert (
        f"is unfinished (interrupted; --resume continues it): predicting with its best model so far (epoch {epoch})"
        in caplog.text
    )
    caplog.clear()
    with RunDir(run).locked("textmix train"), caplog.at_level("WARNING"):
        textmix.load_model(run)
    assert "is still training (pid " in caplog.text and "may change until the run finishes" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        textmix.load_model(run_dir)  # a finished run: nothing to say
    assert "notice" not in caplog.text


def test_the_model_card_names_the_data_source_the_run_read(real_data, tmp_path, monkeypatch):
    """The same dataset name read from raw files (textmix's split), from the Hub, or a custom CSV are
    three test sets: metrics.json["data"]["source"] and the card say which one a number is on."""
    import datasets

    small = {"model": {"num_filters": 8}, "train": {"epochs": 1, "batch_size": 25}, "eval": {"bootstrap_resamples": 0}}

    def run(name: str, data: dict):
        engine.train(recipe_from_dict({**small, "data": {"max_train_examples": 200, **data}}), tmp_path / name)
        return hub.model_card(tmp_path / name, f"me/{name}"), json.loads((tmp_path / name / "metrics.json").read_text())

    card, metrics = run("raw", {"name": "mr"})
    assert metrics["data"]["source"] == {"read": "files", "path": str(real_data / "mr"),
                                         "test": "textmix's stratified 10% of all reviews (split_seed 0)"}  # fmt: skip
    result = card.data.eval_results[0]
    assert result.dataset_type == "mr" and "split_seed 0" in result.dataset_name and not card.data.datasets
    assert "rotten_tomatoes" not in str(card)  # not the Hub's test set
    local = (tmp_path / "raw" / "model" / "README.md").read_text()
    assert "More Information Needed" not in local and "mr (a local copy)" in local
    assert str(real_data) not in local  # never a local path on a card

    raw = read_mr(real_data / "mr", "default")["all"]  # what the Hub would serve
    thirds = raw.train_test_split(test_size=0.2, seed=0)
    served = datasets.DatasetDict({"train": thirds["train"], "validation": thirds["test"], "test": thirds["test"]})
    with monkeypatch.context() as offline_hub:
        offline_hub.setattr(datasets, "load_dataset", lambda hub_id, *a, **k: served)
        offline_hub.setenv("TEXTMIX_DATA_DIR", str(tmp_path / "empty"))
        card, metrics = run("hub", {"name": "mr"})
    assert metrics["data"]["source"]["read"] == "hub" and card.data.datasets == [
        "cornell-movie-review-data/rotten_tomatoes"
    ]
    assert card.data.eval_results[0].dataset_type == "cornell-movie-review-data/rotten_tomatoes"

    table = tmp_path / "reviews.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        sample = raw.shuffle(seed=0).select(range(600))  # both classes
        writer.writerows([t, ["neg", "pos"][y]] for t, y in zip(sample["text"], sample["label"]))
    card, metrics = run("custom", {"name": "custom", "path": str(table)})
    assert metrics["data"]["source"]["read"] == "custom" and metrics["data"]["source"]["path"] == str(table)
    assert card.data.eval_results[0].dataset_type == "custom" and not card.data.datasets


def test_the_card_of_a_fine_tuned_transformer_names_its_base_model_and_a_license(run_dir, tmp_path):
    run = copied_run(run_dir, tmp_path)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["model"] = {**recipe["model"], "name": "transformer", "pretrained": "minilm"}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    card = hub.model_card(run, "me/x")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and card.data.license == "apache-2.0"


def test_a_registered_metric_reaches_the_model_card(run_dir, tmp_path):
    """The card's tables and model-index come from the metric table: a metric a program registers
    (and its runs measured) is on the card, after the chosen calibrator too."""
    from textmix.core.metric_table import METRICS, MetricInfo, register_metric

    run = copied_run(run_dir, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["top2_gap"] = 0.25
    metrics["calibrated"]["temperature"]["test"]["top2_gap"] = 0.125
    (run / "metrics.json").write_text(json.dumps(metrics))
    register_metric(MetricInfo("top2_gap", "top-2 gap", lower_is_better=False, shown=True))
    try:
        card = hub.model_card(run, "me/x")
    finally:
        METRICS.remove("top2_gap")
    assert "| top-2 gap | 0.2500 | 0.1250 |" in str(card)
    assert "top2_gap" in [r.metric_type for r in card.data.eval_results]
    assert "| metric | test | after temperature |" in str(card)


def test_a_pushed_kim_cnn_card_states_a_license_and_no_pipeline_tag_and_files_are_readable(run_dir, tmp_path):
    """The Hub refuses ``license: other`` without a name and link; a Kim CNN has no base model whose
    license textmix knows, so push asks for one; ``pipeline()`` cannot load a Kim CNN, so no
    ``pipeline_tag``; no local path on the card; the weights readable as the umask allows."""
    with pytest.raises(HubError, match="the card needs the weights' license, .* give --license"):
        hub.push_run(run_dir, "me/x", dry_run=tmp_path / "none")
    assert not (tmp_path / "none").exists()
    with pytest.raises(HubError, match="--license other needs --license-name and --license-link"):
        hub.push_run(run_dir, "me/x", dry_run=tmp_path / "other", license="other")
    with pytest.raises(HubError, match="go with --license other only"):
        hub.push_run(run_dir, "me/x", dry_run=tmp_path / "mixed", license="mit", license_name="MIT")
    out = Path(hub.push_run(run_dir, "me/x", dry_run=tmp_path / "up", license="other", license_name="MR terms",
                            license_link="https://www.cs.cornell.edu/people/pabo/movie-review-data/"))  # fmt: skip
    card = huggingface_hub.ModelCard.load(out / "README.md")
    assert card.data.license == "other" and card.data.license_name == "MR terms" and card.data.license_link
    assert card.data.pipeline_tag is None and "needs textmix to run" in card.text
    assert str(data_dir()) not in card.content and "read from" not in card.content
    mask = os.umask(0)
    os.umask(mask)
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {p.name: 0o666 & ~mask for p in out.iterdir()}
    assert (run_dir / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_cards_install_and_load_snippet_runs_as_written(run_dir, tmp_path, test_texts):
    """The card's Python block, with the repository id pointing at the folder the Hub would serve."""
    out = Path(hub.push_run(run_dir, "me/mr-kim-cnn", dry_run=tmp_path / "up", license="cc-by-4.0"))
    text = (out / "README.md").read_text()
    assert "pip install textmix" in text
    block = text.split("```python\n", 1)[1].split("```", 1)[0].replace('"me/mr-kim-cnn"', repr(str(out)))
    result = subprocess.run([sys.executable, "-c", block + "\nprint(model.predict_proba(['a fine film']).tolist())"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    expected = textmix.load_model(out).predict_proba(["a fine film"]).tolist()
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
