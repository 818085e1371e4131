"""The methods that learn while they train (per-class or per-example state, extra draws, head
features) through the engine: an interrupted run resumes bit-identically, and state lands in the
checkpoints."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from toy_task import TOY

import textmix.engine as engine
from textmix.core.errors import TrainingInterrupted
from textmix.engine.recipe import recipe_from_dict

REPO = Path(__file__).resolve().parents[2]
VARIANTS = {
    "camixup": {},
    "rankmixup": {"rankmixup_loss": "mndcg"},
    "mit": {},
    "kernel_mixup": {},
    "aum_mixup": {"aum_epochs": 1},
}


def recipe(name: str):
    values = json.loads(json.dumps(TOY))
    values.update(method=name, loss=VARIANTS[name])
    values["train"]["epochs"] = 3
    return recipe_from_dict(values)


@pytest.mark.parametrize("name", VARIANTS)
def test_an_interrupted_run_resumes_bit_identically(name, tmp_path, monkeypatch):
    straight = engine.train(recipe(name), tmp_path / "straight")
    # forward passes counted by the toy model: the second or third epoch, mid-way
    monkeypatch.setenv("TOY_SIGTERM_AT_STEP", "40")
    with pytest.raises(TrainingInterrupted):
        engine.train(recipe(name), tmp_path / "resumed")
    monkeypatch.delenv("TOY_SIGTERM_AT_STEP")
    (checkpoint,) = (tmp_path / "resumed" / "checkpoints").iterdir()
    state = checkpoint / "method.safetensors"
    assert state.is_file() == (name in ("camixup", "aum_mixup"))
    resumed = engine.train(recipe(name), tmp_path / "resumed", resume=True)
    straight.pop("timing"), resumed.pop("timing")
    assert resumed == straight
    with np.load(tmp_path / "straight" / "scores.npz") as a, np.load(tmp_path / "resumed" / "scores.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_camixup_and_aum_mixup_state_in_the_last_checkpoint(tmp_path):
    engine.train(recipe("camixup"), tmp_path / "cam")
    (last,) = (tmp_path / "cam" / "checkpoints").iterdir()
    assert load_file(str(last / "method.safetensors"))["mix_class"].shape == (3,)
    engine.train(recipe("aum_mixup"), tmp_path / "aum")
    (last,) = (tmp_path / "aum" / "checkpoints").iterdir()
    state = load_file(str(last / "method.safetensors"))
    # one measuring epoch of 16 batches of 25: 400 examples seen once each
    assert state["seen"].tolist() == [1] * 400 and state["saliency"].shape == (400, 3)


DAMAGE = {
    "NaN margins": ("aum_mixup", "margin_sum", lambda t: t.index_fill(0, torch.tensor([3]), float("nan")),
                    "'margin_sum' holds NaN or infinite values"),
    "infinite saliency": ("aum_mixup", "saliency", lambda t: t.fill_(float("inf")), "'saliency' holds NaN or"),
    "negative counts": ("aum_mixup", "seen", lambda t: t - 5, "'seen' must hold whole counts >= 0"),
    "a state of another size": ("aum_mixup", "seen", lambda t: t[:-1].clone(), "'seen' has shape (399,); this run"),
    "flags that are not flags": ("camixup", "mix_class", lambda t: t.to(torch.float32) + 0.5, "flags of 0 or 1"),
    "a missing key": ("camixup", "mix_class", None, "keeps ['mix_class'], got ['other']"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_method_state_is_refused_on_resume_not_trained_on(case, tmp_path, monkeypatch):
    """The checkpoint's method.safetensors is input: NaN / inf, negative or fractional counts, the
    wrong shape or keys stop the resume in one line naming the key; nothing trains on it."""
    from safetensors.torch import save_file

    from textmix.core.errors import RunDirError

    name, key, edit, message = DAMAGE[case]
    monkeypatch.setenv("TOY_SIGTERM_AT_STEP", "40")
    with pytest.raises(TrainingInterrupted):
        engine.train(recipe(name), tmp_path / "run")
    monkeypatch.delenv("TOY_SIGTERM_AT_STEP")
    (checkpoint,) = (tmp_path / "run" / "checkpoints").iterdir()
    path = checkpoint / "method.safetensors"
    state = load_file(str(path))
    if edit is None:
        state.pop(key)
        state["other"] = torch.zeros(1)
    else:
        state[key] = edit(state[key])
    save_file(state, str(path))
    with pytest.raises(RunDirError, match=re.escape(message)):
        engine.train(recipe(name), tmp_path / "run", resume=True)
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("name", VARIANTS)
def test_each_method_trains_the_kim_cnn_on_mr_through_textmix_train(name, real_data, tmp_path):
    """The committed recipe, shortened (1,000 reviews, 3 epochs), through the real CLI."""
    recipe = REPO / "recipes" / "mr" / f"kim_cnn_{name}.yaml"
    overrides = ["data.max_train_examples=1000", "train.epochs=3", "eval.bootstrap_resamples=0"]
    overrides += ["loss.aum_epochs=1"] if name == "aum_mixup" else []
    command = [sys.executable, "-m", "textmix.cli", "train", str(recipe), "--output-dir", str(tmp_path / "run")]
    result = subprocess.run(command + [a for o in overrides for a in ("--set", o)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["method"] == name and metrics["test"]["n"] == 1066
    # MR test is balanced: chance is 0.5 with σ ≈ 0.015, so 0.56 is 4σ above it
    assert metrics["test"]["accuracy"] > 0.56, metrics["test"]


def test_a_sweep_over_the_new_methods_trains_each_and_skips_them_when_run_again(tmp_path):
    import yaml

    from textmix.engine.sweep import sweep

    values = json.loads(json.dumps(TOY))
    values["train"]["epochs"] = 2
    values["loss"] = {"aum_epochs": 1}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(values))
    grid = {"method": list(VARIANTS)}
    rows = sweep(path, grid, [1], [], tmp_path / "sweep")
    assert [row["status"] for row in rows] == ["trained"] * len(VARIANTS)
    for row, name in zip(rows, VARIANTS):
        assert json.loads((Path(row["run"]) / "metrics.json").read_text())["method"] == name
    assert [row["status"] for row in sweep(path, grid, [1], [], tmp_path / "sweep")] == ["skipped (finished)"] * 5


@pytest.mark.parametrize("mix_point", ["embeddings", "hidden:1", "pooled"])
@pytest.mark.parametrize("name", VARIANTS)
def test_each_method_trains_a_transformer_at_each_mix_point(name, mix_point):
    """A tiny BERT at every mix point of the transformer: a finite loss whose gradient reaches the
    encoder (at ``pooled``, MIT's decoupling is exact: the head is linear in the pooled vector)."""
    import torch
    import torch.nn.functional as F
    from transformers import BertConfig

    from textmix.core.methods import StepBatch, build_method, head_features
    from textmix.core.mixer import Mixup
    from textmix.text.models.transformer import TransformerClassifier

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = TransformerClassifier(3, config.to_dict(), dropout=0.0, mix_point=mix_point).train()
    ids = torch.randint(5, 40, (6, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    method = build_method(name, recipe_from_dict({"method": name, **({"loss": VARIANTS[name]})}).loss)
    method.prepare(6, 3)
    method.start_epoch(1)  # aum_mixup (aum_epochs 1): past its measuring epoch
    mixer = Mixup(1.0, per_sample=True, generator=torch.Generator().manual_seed(2))
    plan = mixer.plan(6)
    batch = StepBatch(lambda p: model(ids, mask, plan=p), labels, 3, plan, torch.arange(6), mixer,
                      lambda: head_features(model, lambda: model(ids, mask)))  # fmt: skip
    loss = method.step_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and model.backbone.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    if name == "mit" and mix_point == "pooled":
        clean = model(ids, mask)
        replay = Mixup(1.0, per_sample=True, generator=torch.Generator().manual_seed(2))
        perm = replay.plan(6).perm
        expected = 0.5 * F.cross_entropy(clean, labels) + 0.5 * F.cross_entropy(clean[perm], labels[perm])
        torch.testing.assert_close(method.step_loss(StepBatch(batch.forward, labels, 3, plan, mixer=mixer)), expected)
