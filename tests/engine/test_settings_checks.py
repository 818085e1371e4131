"""Every setting is checked when the recipe or the command line is read, with its type (hostile
inputs, round 4): what would fail mid-run is refused before training, what would be ignored is
refused or said, a divergence names the setting, list-valued options with a malformed item are one
line."""

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

import textmix.engine as engine
from textmix.core.errors import ArgumentError, NonFiniteLossError, RecipeError
from textmix.core.methods import build_method
from textmix.engine.recipe import recipe_from_dict
from textmix.engine.sweep import sweep


@pytest.mark.parametrize(
    ("key", "value"),
    [("mixup.per_sample", "false"), ("train.compile", "no"), ("data.lowercase", "true"),
     ("eval.conformal", {"alpha": [0.1], "mondrian": "false"}),
     ("eval.conformal", {"alpha": [0.1], "randomized": "yes"})],
)  # fmt: skip
def test_a_quoted_string_where_a_boolean_belongs_is_refused(key, value):
    section, _, name = key.partition(".")
    with pytest.raises(RecipeError, match=r"must be (bool|true or false)"):
        recipe_from_dict({section: {name: value}})


def test_a_mit_margin_beta_pairs_cannot_reach_is_refused_at_load_with_the_reach():
    """With α = 2 almost no Beta(2, 2) pair is 0.9 apart: the run used to stop mid-epoch after 100
    redraws; now the recipe is refused, naming how often pairs reach the margin."""
    with pytest.raises(RecipeError, match=r"loss.mit_margin=0.9 is invalid: must be reachable by Beta\(2, 2\) pairs"):
        recipe_from_dict({"method": "mit", "mixup": {"alpha": 2.0}, "loss": {"mit_margin": 0.9}})
    recipe_from_dict({"method": "mit", "mixup": {"alpha": 0.4}, "loss": {"mit_margin": 0.6}})  # reached in 65%


def test_a_huge_kernel_width_is_a_flat_kernel_not_an_overflow():
    method = build_method("kernel_mixup", recipe_from_dict({"loss": {"kernel_tau_std": 1e300}}).loss)
    taus = method.taus(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.arange(8).flip(0))
    np.testing.assert_allclose(taus, np.ones(8))  # exp(0) · τ_max


def test_label_smoothing_of_one_is_refused_it_would_erase_the_labels():
    with pytest.raises(RecipeError, match=r"loss.label_smoothing=1.0 is invalid: must be in \[0, 1\)"):
        recipe_from_dict({"method": "label_smoothing", "loss": {"label_smoothing": 1.0}})


def test_another_methods_loss_key_is_said(caplog):
    with caplog.at_level(logging.WARNING):
        recipe_from_dict({"method": "mixup", "loss": {"regmixup_eta": 0.5}})
    assert "method=mixup ignores loss.regmixup_eta=0.5 (settings of other methods)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        recipe_from_dict({"method": "regmixup", "loss": {"regmixup_eta": 0.5}})
    assert caplog.text == ""


def test_a_divergent_method_setting_is_named_before_the_learning_rate(tmp_path):
    from toy_task import TOY

    values = json.loads(json.dumps(TOY)) | {"method": "regmixup", "loss": {"regmixup_eta": 1e300}}
    with pytest.raises(NonFiniteLossError, match=r"check loss.regmixup_eta=1e\+300 \(method regmixup\), then lower "
                                                 r"optim.lr=0.01"):  # fmt: skip
        engine.train(recipe_from_dict(values), tmp_path / "run")


def test_cluster_options_the_launcher_does_not_read_are_refused(tmp_path):
    from toy_task import TOY

    from textmix.engine.launchers import ClusterOptions

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    with pytest.raises(ArgumentError, match=r"--launcher local does not read --gpus-per-run 2, --partition gpu"):
        sweep(recipe, {}, [1], [], tmp_path / "out", cluster=ClusterOptions(gpus_per_run=2, partition="gpu"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--calibrators", "temperature,isotonic"], "--calibrators temperature,isotonic are fitted on validation "
                                                   "predictions: give --val FILE"),
        (["--val", "{f}", "--conformal", "0.1,abc"], "--conformal '0.1,abc': 'abc' is not a float"),
        (["--val", "{f}", "--conformal", "0.1,"], "--conformal '0.1,' has an empty item"),
        (["--val", "{f}", "--calibrators", "temperature,,isotonic"], "--calibrators 'temperature,,isotonic' has an "
                                                                     "empty item"),
        (["--val", "{f}", "--conformal", "0.1", "--conformal-methods", "lac,"], "--conformal-methods 'lac,' has an "
                                                                                 "empty item"),
    ],
)  # fmt: skip
def test_calibrate_options_that_would_be_ignored_or_are_malformed_are_one_line(args, message, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "p.npz"
    np.savez(path, logits=rng.normal(size=(200, 3)), labels=rng.integers(0, 3, 200))
    args = [a.format(f=path) for a in args]
    result = subprocess.run([sys.executable, "-m", "textmix", "calibrate", str(path), "--labels", "labels",
                             "--logits", "logits", "--out", str(tmp_path / "out"), *args],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-1500:]
    assert message in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("option", "value"), [("--seeds", "1,,2"), ("--grid", "mixup.alpha=0.1,,0.2")])
def test_sweep_list_options_with_an_empty_item_are_one_line(option, value, tmp_path):
    from toy_task import TOY

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    result = subprocess.run([sys.executable, "-m", "textmix", "sweep", str(recipe), option, value, "--dry-run",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr and option in result.stderr, result.stderr


def test_the_trainer_says_when_id2label_and_the_class_names_disagree(tmp_path, caplog):
    from datasets import ClassLabel, Dataset, Features, Sequence, Value
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from textmix.integrations.transformers import MixupTrainer

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2, id2label={0: "pos", 1: "neg"})  # fmt: skip
    features = Features({"input_ids": Sequence(Value("int64")), "label": ClassLabel(names=["neg", "pos"])})
    rows = Dataset.from_dict({"input_ids": [[5, 6]] * 4, "label": [0, 1, 0, 1]}, features=features)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with caplog.at_level(logging.WARNING):
        MixupTrainer(model=BertForSequenceClassification(config), args=args, train_dataset=rows)
    assert "id2label ['pos', 'neg'] differs from the training set's class names ['neg', 'pos']" in caplog.text


# Bounded at scale, responsive to signals ------------------------------------------------------


def test_a_sweep_above_the_run_bound_is_refused_before_planning(tmp_path):
    from toy_task import TOY

    from textmix.engine.sweep import MAX_RUNS, plan_sweep

    recipe = tmp_path / "toy.yaml"
    recipe.write_text(yaml.safe_dump(TOY))
    grid = {"mixup.alpha": [0.1 * i for i in range(1, 101)], "optim.lr": [0.001 * i for i in range(1, 102)]}
    with pytest.raises(RecipeError, match=rf"the sweep has 10,100 runs .* plans up to {MAX_RUNS:,}"):
        plan_sweep(recipe, grid, [1], [], tmp_path / "out")


def test_rankmixup_mixes_above_the_bound_are_refused():
    with pytest.raises(RecipeError, match=r"loss.rankmixup_mixes=17 is invalid: must be in 1..16"):
        recipe_from_dict({"method": "rankmixup", "loss": {"rankmixup_loss": "mndcg", "rankmixup_mixes": 17}})


def test_calibrate_refuses_more_classes_than_its_bound_in_one_line(tmp_path):
    from textmix.core.prediction_report import MAX_CLASSES, calibrate

    rng = np.random.default_rng(0)
    with pytest.raises(ArgumentError, match=rf"the scores have {MAX_CLASSES + 1} columns .* up to {MAX_CLASSES}"):
        calibrate(rng.normal(size=(50, MAX_CLASSES + 1)), rng.integers(0, 3, 50), kind="logits")


def test_a_long_calibrate_stops_on_sigterm(tmp_path):
    import signal

    n = 4_000_000  # about 4 s of metrics after the first notice on this CPU; a faster one still has margin
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", logits=rng.normal(size=(n, 2)), labels=rng.integers(0, 2, n))
    command = [sys.executable, "-m", "textmix", "calibrate", str(tmp_path / "t.npz"), "--labels", "labels",
               "--logits", "logits", "--out", str(tmp_path / "out")]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Signalled when its first notice (no bootstrap at this size) is printed: past the imports and the
    # reading, inside the metrics, whatever the machine's speed (a fixed sleep let a fast CI machine finish).
    first_line = process.stderr.readline()
    assert "notice" in first_line, first_line
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == -signal.SIGTERM
    process.stderr.close()
    written = [p.name for p in (tmp_path / "out").iterdir()] if (tmp_path / "out").is_dir() else []
    assert not [name for name in written if name.startswith(".") or ".tmp" in name]  # nothing half-written
    if "calibration.json" in written:
        json.loads((tmp_path / "out" / "calibration.json").read_text())


def test_a_saved_recipe_is_compared_only_on_keys_its_model_reads(small_mr_run, tmp_path):
    """A Kim CNN run saved when model.pooling defaulted to mean (before round 4), or with other
    trackers, is the same recipe to --resume and sweeps; a transformer's pooling is not."""
    import shutil

    import yaml

    from textmix.engine import recipe_from_dict
    from textmix.engine.run_directory import RunDir
    from textmix.engine.training import recipe_changes

    run = tmp_path / "run"
    shutil.copytree(small_mr_run, run)
    saved = yaml.safe_load((run / "recipe.yaml").read_text())
    current = recipe_from_dict(saved)
    assert current.model.pooling == "pooler"  # the new default, which the Kim CNN does not read
    saved["model"]["pooling"], saved["train"]["log_with"] = "mean", ["mlflow"]
    (run / "recipe.yaml").write_text(yaml.safe_dump(saved))
    assert recipe_changes(RunDir(run), current) == []
    saved["model"]["num_filters"] += 1  # a key it reads
    (run / "recipe.yaml").write_text(yaml.safe_dump(saved))
    assert recipe_changes(RunDir(run), current) == ["model.num_filters"]
    saved["model"] |= {"name": "transformer", "num_filters": current.model.num_filters}
    (run / "recipe.yaml").write_text(yaml.safe_dump(saved))
    as_transformer = recipe_from_dict({**saved, "model": {**saved["model"], "pooling": "pooler"}})
    assert recipe_changes(RunDir(run), as_transformer) == ["model.pooling"]
