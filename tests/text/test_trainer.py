"""textmix.integrations.transformers: the Trainer mixes exactly as the engine does, and trains."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, EvalPrediction, TrainingArguments

from textmix.core.assessment import Assessment
from textmix.core.errors import ArgumentError
from textmix.core.methods import BUILT_IN, StepBatch, build_method, head_features
from textmix.core.metrics import calibration_report
from textmix.core.mixer import MixupPlan
from textmix.engine.recipe import recipe_from_dict
from textmix.integrations.transformers import MixupTrainer, calibration_metrics
from textmix.text.models.transformer import TransformerClassifier, resolve_checkpoint

REPO = Path(__file__).resolve().parents[2]


def capture(module, store: dict, key: str):
    """Forward hook keeping the module's output (after earlier hooks ran)."""
    return module.register_forward_hook(lambda m, args, out: store.__setitem__(key, out.detach().clone()))


def test_the_trainer_feeds_the_model_the_engines_mixed_embeddings_and_mask(tmp_path, monkeypatch):
    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    batch = tokenizer(["a fine film", "a much longer and far duller film than the first"], padding=True,
                      return_tensors="pt")  # fmt: skip
    plan = MixupPlan(lam=torch.tensor(0.3), perm=torch.tensor([1, 0]))
    seen = {}

    engine = TransformerClassifier.from_backbone("minilm", 2, mix_point="embeddings").train()
    engine.backbone.register_forward_pre_hook(
        lambda m, args, kwargs: seen.update(
            engine_embeds=kwargs["inputs_embeds"], engine_mask=kwargs["attention_mask"]
        ),
        with_kwargs=True,
    )
    engine(batch["input_ids"], batch["attention_mask"], plan=plan)

    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = MixupTrainer(model=model, args=args, mixup_alpha=0.4)
    monkeypatch.setattr(trainer.mixer, "plan", lambda batch_size, device=None: plan)
    capture(model.get_input_embeddings(), seen, "trainer_embeds")
    model.base_model.register_forward_pre_hook(
        lambda m, args, kwargs: seen.update(trainer_mask=kwargs["attention_mask"]), with_kwargs=True
    )
    labels = torch.tensor([0, 1])
    model.train()
    loss, outputs = trainer.compute_loss(model, {**batch, "labels": labels}, return_outputs=True)

    assert torch.equal(seen["trainer_embeds"], seen["engine_embeds"])  # (B, T, D) word embeddings, mixed
    assert (
        torch.equal(seen["trainer_mask"], seen["engine_mask"])
        and seen["trainer_mask"].sum() == 2 * batch["attention_mask"].shape[1]
    )  # the union mask: both rows as long as the longer text
    targets = torch.tensor([[0.3, 0.7], [0.7, 0.3]])  # λ·y_i + (1 − λ)·y_perm(i)
    torch.testing.assert_close(loss, F.cross_entropy(outputs.logits.float(), targets))
    model.eval()  # evaluation batches are not mixed: the model's own loss on the hard labels
    eval_loss = trainer.compute_loss(model, {**batch, "labels": labels})
    torch.testing.assert_close(eval_loss, F.cross_entropy(model(**batch).logits, labels))


def test_calibration_metrics_are_the_calibration_report():
    logits = np.random.default_rng(0).normal(size=(50, 3))
    labels = np.random.default_rng(1).integers(0, 3, 50)
    metrics = calibration_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    report = calibration_report(torch.softmax(torch.from_numpy(logits), 1).numpy(), labels)
    shown = ("accuracy", "ece", "oe", "mce", "nll", "brier", "smooth_ece", "debiased_ece")  # the default tables'
    assert metrics == {k: pytest.approx(report[k]) for k in shown}


def test_the_example_script_trains_minilm_on_256_mr_examples_beyond_chance(real_data, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "trainer_mixup.py"),
            "--train-examples",
            "256",
            "--batch-size",
            "4",
            "--learning-rate",
            "2e-4",  # the new head needs it with 64 steps: see the example's docstring
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(result.stdout.split("validation accuracy ")[1].split(",")[0])
    # MR validation is balanced (1,066 texts): chance accuracy is 0.5 with σ ≈ 0.015, so 0.58 is 5σ above it
    assert accuracy > 0.58, result.stdout
    # the eval set's assessment, as a run's metrics.json holds it: the eval set fits and is measured
    calibration = Assessment.from_json(json.loads((out / "calibration.json").read_text()))
    before, after = calibration.block("none").metrics, calibration.block("temperature").metrics
    assert before["n"] == 1066 and before["accuracy"] == pytest.approx(accuracy, abs=1e-3)
    assert after["nll"] <= before["nll"] + 1e-9 and calibration.block("temperature").crossfit_val["n"] == 1066
    assert (out / "reliability.png").stat().st_size > 10_000
    saved = json.loads((out / "config.json").read_text())  # save_model wrote a stock model folder
    assert saved["textmix_temperature"] == pytest.approx(calibration.calibrators["temperature"].temperature)
    assert (out / "model.safetensors").is_file()


def test_regmixup_in_the_trainer_adds_eta_times_the_mixed_copys_loss(tmp_path, monkeypatch):
    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    batch = tokenizer(["a fine film", "a dull one"], padding=True, return_tensors="pt")
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    ).train()  # training mode without dropout noise: both passes are deterministic
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = MixupTrainer(model=model, args=args, mixup_alpha=10.0, regmixup_eta=0.5)
    plan = MixupPlan(lam=torch.tensor(0.6), perm=torch.tensor([1, 0]))
    monkeypatch.setattr(trainer.mixer, "plan", lambda batch_size, device=None: plan)
    labels = torch.tensor([1, 0])
    loss = trainer.compute_loss(model, {**batch, "labels": labels})
    clean = model(**batch).logits
    trainer._plan = plan
    mixed = model(**trainer.mixed_inputs(batch, plan)).logits
    trainer._plan = None
    targets = torch.tensor([[0.4, 0.6], [0.6, 0.4]])
    torch.testing.assert_close(loss, F.cross_entropy(clean, labels) + 0.5 * F.cross_entropy(mixed, targets))


def test_gradient_accumulation_bf16_and_group_by_length_train(real_data, tmp_path):
    from transformers import DataCollatorWithPadding

    from textmix.text.datasets import load_text_dataset

    checkpoint = resolve_checkpoint("minilm")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    train = load_text_dataset("mr")["train"].shuffle(seed=0).select(range(64))
    train = train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    before = model.classifier.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, gradient_accumulation_steps=2,
                             max_steps=3, bf16=True, train_sampling_strategy="group_by_length", report_to=[],
                             save_strategy="no", use_cpu=True, logging_steps=1)  # fmt: skip
    collator = DataCollatorWithPadding(tokenizer)
    trainer = MixupTrainer(model=model, args=args, train_dataset=train, data_collator=collator, mixup_alpha=0.4,
                           per_sample=True)  # fmt: skip
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss)
    assert not torch.equal(before, model.classifier.weight)  # it learned


def tiny_bert(num_labels: int = 3):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        num_labels=num_labels)  # fmt: skip
    torch.manual_seed(0)
    return BertForSequenceClassification(config).train()  # training mode, no dropout noise: deterministic


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_trainer_and_the_engine_give_the_same_loss_for_every_method(name, tmp_path):
    """One method object, two callers: the engine's loop (mixed word embeddings fed to the model, the
    union mask) and MixupTrainer.compute_loss (its forward hook) on the same batch, drawing the same
    plans from equally seeded mixers, with row numbers and head features where the method reads them."""
    from datasets import Dataset

    model = tiny_bert()
    inputs = {"input_ids": torch.randint(5, 40, (4, 6), generator=torch.Generator().manual_seed(1)),
              "attention_mask": torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 6, [1] * 3 + [0] * 3])}  # fmt: skip
    labels, index = torch.tensor([0, 2, 1, 2]), torch.tensor([3, 0, 2, 1])
    rows = Dataset.from_dict({"input_ids": inputs["input_ids"].tolist(), "label": labels.tolist()})
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = MixupTrainer(model=model, args=args, method=name, train_dataset=rows, eval_dataset=rows)
    method = build_method(name, recipe_from_dict({"method": name}).loss)
    method.prepare(len(rows), 3)
    assert type(trainer.method) is type(method) and (trainer.mixer is None) == (method.mixing is None)
    reference = copy.deepcopy(trainer.mixer)

    def engine_forward(p):  # what the engine's text models do at the embeddings mix point
        if p is None:
            return model(**inputs).logits
        embeds = p.mix(model.get_input_embeddings()(inputs["input_ids"]))  # (B, T, D)
        return model(inputs_embeds=embeds, attention_mask=p.mix_mask(inputs["attention_mask"])).logits

    plan = reference.plan(4) if reference is not None else None
    features = lambda: head_features(model, lambda: model(**inputs))  # noqa: E731
    expected = method.step_loss(StepBatch(engine_forward, labels, 3, plan, index, reference, features))
    loss = trainer.compute_loss(model, {**inputs, "labels": labels, "index": index})
    torch.testing.assert_close(loss, expected)


def test_trainer_arguments_of_textmix_0_2_choose_the_same_methods(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    for kwargs, name in (
        ({}, "mixup"),
        ({"mixup_alpha": 0.0}, "baseline"),
        ({"features_only": True}, "mixup_features_only"),
        ({"regmixup_eta": 0.5, "mixup_alpha": 10.0}, "regmixup"),
        ({"label_smoothing": 0.1}, "label_smoothing"),
        ({"erl_kappa": 0.2}, "erl"),
    ):
        assert MixupTrainer(model=tiny_bert(), args=args, **kwargs).method.name == name, kwargs
    with pytest.raises(ArgumentError, match="separate methods; pick one with method="):
        MixupTrainer(model=tiny_bert(), args=args, label_smoothing=0.1, erl_kappa=0.1)
    with pytest.raises(ArgumentError, match="method mixup does not use \\['erl_kappa'\\]"):
        MixupTrainer(model=tiny_bert(), args=args, method="mixup", erl_kappa=0.1)


@pytest.mark.parametrize("name", ["camixup", "aum_mixup"])
def test_methods_with_state_train_in_the_trainer_and_their_state_rides_in_each_checkpoint(name, tmp_path):
    """Row numbers reach the method (an ``index`` column is added), camixup reads the eval set after
    each epoch, and each checkpoint folder holds the method's state, which a resume restores."""
    from datasets import Dataset
    from safetensors.torch import load_file

    generator = torch.Generator().manual_seed(0)
    rows = Dataset.from_dict(
        {"input_ids": torch.randint(5, 40, (24, 6), generator=generator).tolist(), "label": [0, 1, 2] * 8}
    )
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, num_train_epochs=3,
                             per_device_train_batch_size=8, save_strategy="epoch", learning_rate=1e-2,
                             logging_strategy="no", seed=3)  # fmt: skip
    loss = {"aum_epochs": 1} if name == "aum_mixup" else {}
    trainer = MixupTrainer(model=tiny_bert(), args=args, method=name, train_dataset=rows, eval_dataset=rows, **loss)
    assert ("index" in trainer.train_dataset.column_names) == (name == "aum_mixup")
    trainer.train()
    last = tmp_path / "checkpoint-9"  # 3 epochs of 3 steps
    saved = load_file(str(last / "textmix_method.safetensors"))
    state = trainer.method.state_dict()
    assert sorted(saved) == sorted([f"method.{k}" for k in state] + ["mixer.generator"])
    assert all(torch.equal(saved[f"method.{k}"], v) for k, v in state.items())
    if name == "aum_mixup":
        assert state["seen"].tolist() == [1] * 24  # measured in the first epoch only
    fresh = MixupTrainer(model=tiny_bert(), args=args, method=name, train_dataset=rows, eval_dataset=rows, **loss)
    fresh._load_from_checkpoint(str(last))
    assert all(torch.equal(fresh.method.state_dict()[k], v) for k, v in state.items())
    assert torch.equal(fresh.mixer.generator.get_state(), trainer.mixer.generator.get_state())
    with pytest.raises(ArgumentError, match="give eval_dataset" if name == "camixup" else "give train_dataset"):
        MixupTrainer(model=tiny_bert(), args=args, method=name, **loss)
