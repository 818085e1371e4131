"""The training engine end to end: the loop, resume and protection on the in-memory toy task; the
text task's outputs and CLI on real MR data (small subsets, few epochs)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from toy_task import TOY

import textmix.engine as engine
from textmix.core.errors import NonFiniteLossError, RunDirError, TrainingInterrupted
from textmix.core.methods import BUILT_IN
from textmix.engine.recipe import recipe_from_dict

SMALL = {
    "method": "mixup",
    "data": {"name": "mr", "max_train_examples": 300},
    "model": {"num_filters": 8},
    "train": {"epochs": 2, "batch_size": 25, "log_every": 4},
    "eval": {"mc_dropout_samples": 2, "ood": ["random_tokens", "gaussian_noise"]},
}


def recipe_with(base: dict, **changes):
    """``base`` with ``section={...}`` replaced and ``section__key=value`` set."""
    values = json.loads(json.dumps(base))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            values.setdefault(section, {})[name] = value
        else:
            values[section] = value
    return recipe_from_dict(values)


def test_run_writes_every_output(real_data, tmp_path):
    metrics = engine.train(small_recipe(), tmp_path / "run")
    run = tmp_path / "run"
    for name in (
        "recipe.yaml",
        "metrics.json",
        "predictions.npz",
        "reliability.png",
        "log.jsonl",
        "epoch_predictions.npz",
        "scores.npz",
        "model/config.json",
        "model/model.safetensors",
        "model/featurizer.json",
        "model/textmix.json",
    ):
        assert (run / name).is_file(), name
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert {"val", "test", "best_epoch", "method", "history"} <= saved.keys()
    for split, n in (("val", 1066), ("test", 1066)):
        assert set(saved[split]) >= {"accuracy", "ece", "oe", "mce", "nll", "brier", "mean_confidence", "n"}
        assert saved[split]["n"] == n
    assert saved["method"] == "mixup" and 1 <= saved["best_epoch"] <= 2
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    assert saved["last"]["epoch"] == 2
    assert len((run / "log.jsonl").read_text().splitlines()) == 2
    temperature = saved["calibrated"]["temperature"]
    assert temperature["calibrator"]["state"]["temperature"] > 0
    assert temperature["test"]["accuracy"] == saved["test"]["accuracy"]
    assert temperature["val"]["nll"] <= saved["val"]["nll"] + 1e-9  # fitted there: in-sample
    assert saved["calibrator_choice"] == {"chosen": "temperature", "setting": "auto"}
    assert set(saved["ood"]) == {"random_tokens", "gaussian_noise"}
    assert 0 <= saved["ood"]["random_tokens"]["none"]["auroc"] <= 1
    assert saved["mc_dropout"]["test"]["n"] == 1066
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["epochs"] == 2
    predictions = np.load(run / "predictions.npz")
    assert predictions["test_probs"].shape == (1066, 2)
    best = saved["history"][saved["best_epoch"] - 1]
    assert best["val_accuracy"] == pytest.approx(saved["val"]["accuracy"])  # model = best epoch
    assert sum(saved["data"]["train_label_counts"]) == saved["data"]["splits"]["train"]
    assert [t["train_examples"] for t in saved["timing"]] == [saved["data"]["splits"]["train"]] * 2

    # per-epoch validation predictions agree with the logged per-epoch accuracy and confidence
    with np.load(run / "epoch_predictions.npz") as epochs:
        assert sorted(epochs) == ["confidence_1", "confidence_2", "correct_1", "correct_2"]
        for record in saved["history"]:
            e = record["epoch"]
            assert epochs[f"correct_{e}"].mean() == pytest.approx(record["val_accuracy"])
            assert epochs[f"confidence_{e}"].mean() == pytest.approx(record["val_mean_confidence"], abs=1e-6)
    # winning scores: the test split and every OOD set, for every scoring method
    with np.load(run / "scores.npz") as scores:
        methods = ("none", "temperature", "mc_dropout")
        assert sorted(scores) == sorted(
            f"{s}/{m}" for s in ("test", "random_tokens", "gaussian_noise") for m in methods
        )
        np.testing.assert_allclose(scores["test/none"], predictions["test_probs"].max(1), rtol=1e-6)
        from textmix.core.metrics import ood_auroc

        auroc = ood_auroc(scores["test/mc_dropout"], scores["random_tokens/mc_dropout"])
        assert auroc == pytest.approx(saved["ood"]["random_tokens"]["mc_dropout"]["auroc"])

    # the saved model reproduces the run's test probabilities
    from textmix.text.features import load_featurizer
    from textmix.text.models import KimCNN

    model = KimCNN.from_pretrained(run / "model").eval()
    featurizer = load_featurizer(run / "model")
    from textmix.text.task import load_splits

    texts = load_splits(small_recipe().data)["test"]["text"][:5]
    from textmix.text.features import collate

    batch = collate(
        [{"input_ids": featurizer.encode(t), "label": 0, "index": i} for i, t in enumerate(texts)],
        featurizer.pad_id,
        featurizer.min_length,
    )
    with torch.no_grad():
        probs = torch.softmax(model(batch["input_ids"], batch["attention_mask"]), 1).numpy()
    np.testing.assert_allclose(probs, predictions["test_probs"][:5], atol=1e-5)


def untimed(run: Path) -> dict:
    """metrics.json without wall-clock timing (the only part that may differ between equal runs)."""
    metrics = json.loads((run / "metrics.json").read_text())
    assert all(t["train_seconds"] > 0 for t in metrics.pop("timing"))
    return metrics


def small_recipe(**changes):
    return recipe_with(SMALL, **changes)


def toy_recipe(**changes):
    return recipe_with(TOY, **changes)


def test_same_seed_same_metrics(tmp_path):
    recipe = toy_recipe(eval={"ood": ["noise"], "mc_dropout_samples": 2})
    engine.train(recipe, tmp_path / "a")
    engine.train(recipe, tmp_path / "b")
    assert untimed(tmp_path / "a") == untimed(tmp_path / "b")
    other = toy_recipe(eval={"ood": ["noise"], "mc_dropout_samples": 2}, train__seed=2)
    engine.train(other, tmp_path / "c")
    assert untimed(tmp_path / "a") != untimed(tmp_path / "c")


def test_interrupt_and_resume_give_the_same_result(tmp_path, monkeypatch):
    recipe = toy_recipe()
    reference = engine.train(recipe, tmp_path / "straight")
    monkeypatch.setenv("TOY_SIGTERM_AT_STEP", "24")  # mid-way through epoch 2 (16 steps per epoch)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        engine.train(recipe, tmp_path / "interrupted")
    monkeypatch.delenv("TOY_SIGTERM_AT_STEP")
    assert not (tmp_path / "interrupted" / "metrics.json").exists()
    assert (tmp_path / "interrupted" / "checkpoints" / "step_24").is_dir()
    with pytest.raises(RunDirError, match="unfinished run; pass --resume"):
        engine.train(recipe, tmp_path / "interrupted")
    resumed = engine.train(recipe, tmp_path / "interrupted", resume=True)
    assert [t["train_examples"] for t in resumed.pop("timing")] == [
        t["train_examples"] for t in reference.pop("timing")
    ]
    assert resumed == reference
    for name in ("epoch_predictions.npz", "scores.npz", "predictions.npz"):
        with np.load(tmp_path / "straight" / name) as a, np.load(tmp_path / "interrupted" / name) as b:
            assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), name


def test_finished_run_is_protected(tmp_path):
    recipe = toy_recipe(train__epochs=1)
    first = engine.train(recipe, tmp_path / "run")
    with pytest.raises(RunDirError, match="already holds a finished run"):
        engine.train(recipe, tmp_path / "run")
    assert engine.train(recipe, tmp_path / "run", resume=True) == json.loads(
        (tmp_path / "run" / "metrics.json").read_text()
    )
    again = engine.train(recipe, tmp_path / "run", overwrite=True)
    assert {**again, "timing": None} == {**first, "timing": None}  # wall-clock timing may differ


def test_nan_loss_names_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv("TOY_NAN_AT_STEP", "3")
    with pytest.raises(NonFiniteLossError, match="nan at step 3 \\(epoch 1\\)"):
        engine.train(toy_recipe(train__log_every=1), tmp_path / "run")


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_method_trains_and_learns(tmp_path, method):
    loss = {"aum_epochs": 1} if method == "aum_mixup" else {}  # its default (3) leaves no epoch that mixes
    metrics = engine.train(toy_recipe(method=method, loss=loss, train__epochs=3), tmp_path / method)
    assert metrics["method"] == method and metrics["test"]["n"] == 200
    assert metrics["test"]["accuracy"] > 0.6, metrics["test"]  # 3 classes: chance is 1/3


@pytest.mark.data("trec")
def test_per_sample_lambda_and_trec(real_data, tmp_path):
    recipe = small_recipe(
        data={"name": "trec", "max_train_examples": 400},
        mixup={"alpha": 1.0, "per_sample": True},
        eval={"ood": ["mr"]},
        train__epochs=1,
    )
    metrics = engine.train(recipe, tmp_path / "trec")
    assert metrics["test"]["n"] == 500 and metrics["data"]["num_classes"] == 6
    assert metrics["ood"]["mr"]["n"] == 1066


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "textmix.cli", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["data.name=sst"], "unknown dataset data.name='sst'"),
        (["model.name=lstm"], "model 'lstm' is unknown; known: kim_cnn, transformer"),
        (["train.batch_size=5000"], "train.batch_size=5000 is larger than the training set (300 examples)"),
        (["mixup.alpha=-1"], "mixup.alpha=-1.0 is invalid"),
        (["data.vectors=/nonexistent/glove.txt"], "word vector file '/nonexistent/glove.txt' does not exist"),
        (["data.name=custom", "data.path=/nonexistent.csv"], "does not exist"),
    ],
)
def test_cli_reports_bad_input_in_one_line(real_data, tmp_path, overrides, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(SMALL))
    sets = [arg for o in overrides for arg in ("--set", o)]
    result = run_cli("train", str(recipe), "--output-dir", str(tmp_path / "run"), *sets)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_wrong_label_column(real_data, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("review,stars\n" + "".join(f"film {i} was fine,{i % 2}\n" for i in range(40)))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"data": {"name": "custom", "path": str(data), "text_column": "review"}}))
    result = run_cli("train", str(recipe), "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "data.label_column='label' is not a column" in result.stderr and "'stars'" in result.stderr


def test_cli_train_and_evaluate(real_data, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**SMALL, "eval": {"ood": []}, "train": {**SMALL["train"], "epochs": 1}}))
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "textmix.train", "--config", str(recipe), "--output-dir", str(run)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    result = run_cli("evaluate", str(run), "--set", "eval.mc_dropout_samples=2", "--set", "eval.ood=[random_tokens]")
    assert result.returncode == 0, result.stderr[-3000:]
    # every result it computed is printed, not only accuracy / ECE / OE
    assert "MC dropout (2 passes): accuracy" in result.stdout and "test after temperature (chosen)" in result.stdout
    assert re.search(r"OOD random_tokens \(\d+ examples\): AUROC of the winning score: none 0\.\d+", result.stdout)
    evaluation = json.loads((run / "evaluation.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert evaluation["test"] == pytest.approx(metrics["test"])
    assert run_cli("evaluate", str(run), "--set", "train.epochs=3").returncode == 2


def test_minilm_one_epoch_on_an_mr_subset_beats_chance(real_data, tmp_path):
    from textmix.engine.recipe import load_recipe

    recipe = load_recipe(
        Path(__file__).resolve().parents[2] / "recipes" / "mr" / "minilm_mixup.yaml",
        ["data.max_train_examples=640", "train.epochs=1", "train.batch_size=16", "optim.warmup_ratio=0.1"],
    )
    metrics = engine.train(recipe, tmp_path / "minilm")
    assert metrics["test"]["n"] == 1066
    assert metrics["test"]["accuracy"] > 0.65, metrics["test"]


@pytest.mark.slow
def test_kim_cnn_non_static_reaches_the_measured_accuracy_on_mr(real_data, tmp_path):
    """The main job lands inside the accuracy distribution the measured study found for this recipe's
    model on MR: 76.2 ± 2.1% over 9 runs (docs/results/measured/mr); one run is a draw from it (seed 1
    gave 75.8% on one machine, 74.95% on another: torch's kernels sum in a machine-dependent order),
    so the bound is the mean less two standard deviations. A broken embedding, mixup or optimizer
    lands near 50–65%."""
    from textmix.engine.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "mr" / "kim_cnn_mixup.yaml")
    metrics = engine.train(recipe, tmp_path / "kim")
    assert metrics["test"]["accuracy"] >= 0.762 - 2 * 0.021, metrics["test"]


def test_an_earlier_bf16_accelerator_does_not_leak_into_a_run(monkeypatch):
    """accelerate shares state in a process: a bf16 Trainer in a notebook must not make the next
    textmix run bf16; precision comes from the launch (ACCELERATE_MIXED_PRECISION) only."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    AcceleratorState._reset_state()  # earlier tests in this process made an fp32 state
    try:
        Accelerator(mixed_precision="bf16", cpu=True)  # what a bf16 Trainer leaves behind
        assert engine.training.make_accelerator().mixed_precision == "no"
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
        assert engine.training.make_accelerator().mixed_precision == "bf16"
    finally:
        AcceleratorState._reset_state()


def test_a_two_class_calibrator_on_a_three_class_task_is_refused_before_training(tmp_path):
    from textmix.core.errors import RecipeError

    recipe = toy_recipe(eval={"calibrators": ["temperature", "platt"]})  # the toy task has 3 classes
    with pytest.raises(RecipeError, match="calibrator platt is for two classes; this model has 3: use temperature"):
        engine.train(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before the first step
