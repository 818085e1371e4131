"""Each training method's loss against the paper's formula written out here, on a fixed plan; the
registry's contract; and the engine and MixupTrainer computing the same loss for every method."""

import math

import pytest
import torch
import torch.nn.functional as F

from textmix.core.errors import RecipeError
from textmix.core.methods import (
    BUILT_IN,
    Method,
    Param,
    StepBatch,
    build_method,
    get_method,
    method_names,
    register_method,
)
from textmix.core.mixer import MixupPlan
from textmix.engine.recipe import recipe_from_dict

LABELS = torch.tensor([0, 2, 1, 2])
PLAN = MixupPlan(lam=torch.tensor(0.8), perm=torch.tensor([3, 2, 1, 0]))


def logits_of(plan):
    """A deterministic 'model': different logits for the clean and each mixed batch."""
    g = torch.Generator().manual_seed(0 if plan is None else int(100 * float(plan.lam)))
    return torch.randn(4, 3, generator=g, dtype=torch.float64)


def batch(plan):
    return StepBatch(logits_of, LABELS, 3, plan)


def onehot(labels):
    return F.one_hot(labels, 3).double()


def mixed_targets(plan):
    lam = float(plan.lam)
    return lam * onehot(LABELS) + (1 - lam) * onehot(LABELS[plan.perm])


def ce(logits, targets):  # −Σ_k y_k log softmax(z)_k, averaged
    return -(targets * torch.log_softmax(logits, 1)).sum(1).mean()


def method(name, **loss):
    return build_method(name, recipe_from_dict({"method": name, "loss": loss}).loss)


def test_baseline_is_cross_entropy_on_the_clean_batch():
    torch.testing.assert_close(method("baseline").step_loss(batch(None)), F.cross_entropy(logits_of(None), LABELS))


def test_mixup_is_cross_entropy_against_mixed_labels_of_the_mixed_batch():
    expected = ce(logits_of(PLAN), mixed_targets(PLAN))
    torch.testing.assert_close(method("mixup").step_loss(batch(PLAN)), expected)


@pytest.mark.parametrize("lam", [0.8, 0.3])
def test_mixup_features_only_keeps_the_label_of_the_nearer_example(lam):
    plan = MixupPlan(lam=torch.tensor(lam), perm=PLAN.perm, mode="features_only")  # what its mixer draws
    nearer = LABELS if float(plan.lam) >= 0.5 else LABELS[plan.perm]
    torch.testing.assert_close(
        method("mixup_features_only").step_loss(batch(plan)), F.cross_entropy(logits_of(plan), nearer)
    )


def test_regmixup_is_clean_cross_entropy_plus_eta_times_the_mixup_loss():
    """Pinto et al. 2022, eq. 3: L = CE(f(x), y) + η · CE(f(x̃), ỹ)."""
    expected = F.cross_entropy(logits_of(None), LABELS) + 0.5 * ce(logits_of(PLAN), mixed_targets(PLAN))
    torch.testing.assert_close(method("regmixup", regmixup_eta=0.5).step_loss(batch(PLAN)), expected)


def test_label_smoothing_matches_pytorch():
    expected = F.cross_entropy(logits_of(None), LABELS, label_smoothing=0.2)
    torch.testing.assert_close(method("label_smoothing", label_smoothing=0.2).step_loss(batch(None)), expected)


def test_erl_is_cross_entropy_minus_kappa_times_the_mean_entropy():
    """Pereyra et al. 2017: L = CE − κ·H(p), H = −Σ p log p."""
    z = logits_of(None)
    p = torch.softmax(z, 1)
    entropy = -(p * torch.log(p)).sum(1).mean()
    expected = F.cross_entropy(z, LABELS) - 0.3 * entropy
    torch.testing.assert_close(method("erl", erl_kappa=0.3).step_loss(batch(None)), expected)


def test_methods_say_whether_they_mix():
    """Over the registry, not a snapshot of it: a method's mixer exists exactly when it declares
    mixing, mixes in that mode, and a recipe that would never mix is refused for it."""
    assert BUILT_IN[0] == "baseline" and len(BUILT_IN) == len(set(BUILT_IN))
    for name in method_names():
        method = build_method(name, recipe_from_dict({"method": name}).loss)
        mixer = method.make_mixer(0.4, False, 1, seed=0)
        assert (mixer is None) == (method.mixing is None), name
        if mixer is not None:
            assert mixer.mode == method.mixing, name
            with pytest.raises(RecipeError, match="never mixes"):
                recipe_from_dict({"method": name, "mixup": {"alpha": 0}})
    assert {get_method(n).report_role for n in method_names()} >= {"reference", "mixup"}


def test_method_settings_are_checked_with_their_key():
    for name, loss, phrase in (
        ("regmixup", {"regmixup_eta": 0}, "loss.regmixup_eta=0.0 is invalid: must be > 0"),
        ("erl", {"erl_kappa": math.inf}, "loss.erl_kappa=inf is invalid"),
        ("label_smoothing", {"label_smoothing": 1.5}, "loss.label_smoothing=1.5 is invalid: must be in [0, 1"),
    ):
        with pytest.raises(RecipeError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
            recipe_from_dict({"method": name, "loss": loss})
    with pytest.raises(RecipeError, match=f"method 'zzz' is unknown; known: {', '.join(method_names())}$"):
        recipe_from_dict({"method": "zzz"})


def test_a_new_method_is_one_class_and_its_keys_join_the_loss_section():
    class Squared(Method):
        name = "test_squared_error"
        params = {"test_scale": Param(2.0, "scale of the squared error.", lambda v: v > 0, "> 0")}

        def loss(self, logits, targets):
            return self.test_scale * ((torch.softmax(logits, 1) - targets) ** 2).sum(1).mean()

    register_method(Squared)
    recipe = recipe_from_dict({"method": "test_squared_error", "loss": {"test_scale": 3.0}})
    built = build_method(recipe.method, recipe.loss)
    expected = 3.0 * ((torch.softmax(logits_of(None), 1) - onehot(LABELS)) ** 2).sum(1).mean()
    torch.testing.assert_close(built.step_loss(batch(None)), expected)
    with pytest.raises(RecipeError, match="loss.test_scale=-1.0 is invalid: must be > 0"):
        recipe_from_dict({"method": "test_squared_error", "loss": {"test_scale": -1}})
    with pytest.raises(ValueError, match="clashes"):

        class Clash(Squared):
            name = "test_clash"
            params = {"test_scale": Param(5.0, "another default")}

        register_method(Clash)


def test_focal_with_the_flsd_53_schedule_by_hand():
    """Mukhoti et al. 2020: −(1 − p_y)^γ log p_y with γ = 5 when p_y < 0.2, else 3."""
    z = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])  # the first example is easy (p_y ≈ 0.79), the second hard (p_y ≈ 0.045)
    p = torch.softmax(z, 1)[torch.arange(2), y]
    assert p[0] >= 0.2 > p[1]
    expected = (-((1 - p[0]) ** 3) * torch.log(p[0]) - (1 - p[1]) ** 5 * torch.log(p[1])) / 2
    flsd = method("focal")
    torch.testing.assert_close(flsd.loss(z, onehot(y)), expected)
    fixed = method("focal", focal_gamma=2.0)
    torch.testing.assert_close(fixed.loss(z, onehot(y)), (-((1 - p) ** 2) * torch.log(p)).mean())
    # γ = 0 is ordinary cross entropy only through the FLSD switch; a fixed γ near 0 approaches it
    torch.testing.assert_close(method("focal", focal_gamma=1e-12).loss(z, onehot(y)), F.cross_entropy(z, y))


def test_mbls_is_cross_entropy_plus_the_margin_penalty_by_hand():
    """Liu et al. 2022: CE + λ · mean_{i,j} max(0, max_k z_ik − z_ij − m)."""
    z = torch.tensor([[12.0, 0.0, 5.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    # gaps to the largest logit: [0, 12, 7] and [2, 1, 0]; over m = 6: [0, 6, 1] and [0, 0, 0]
    expected = F.cross_entropy(z, y) + 0.5 * (6 + 1) / 6
    torch.testing.assert_close(method("mbls", mbls_margin=6.0, mbls_weight=0.5).loss(z, onehot(y)), expected)


def test_a_method_that_mixes_token_sequences_only_is_refused_at_recipe_load_where_there_are_none():
    """Capabilities, not step-1 errors: a method declares what its plans can mix and the recipe is
    checked against what the task's mix point carries (the pooled vector of a transformer, the toy
    task's inputs) before any data is read."""
    from textmix.core.methods import METHODS

    @register_method
    class SpanMix(Method):
        name = "test_span_mix"
        mixing = "full"
        mixes = "sequences"

    try:
        recipe_from_dict({"method": "test_span_mix"})  # Kim CNN, embeddings: (B, T, D)
        transformer = {"name": "transformer", "pretrained": "minilm"}
        for point in ("embeddings", "hidden:2"):
            recipe_from_dict({"method": "test_span_mix", "model": transformer, "mixup": {"mix_point": point}})
        with pytest.raises(RecipeError, match="test_span_mix mixes sequences only, but mixup.mix_point='pooled'"):
            recipe_from_dict({"method": "test_span_mix", "model": transformer, "mixup": {"mix_point": "pooled"}})
        from toy_task import TOY

        with pytest.raises(RecipeError, match="task toy carries no token sequences"):
            recipe_from_dict({**TOY, "method": "test_span_mix"})
        with pytest.raises(ValueError, match="mixes must be one of"):
            register_method(type("Odd", (Method,), {"name": "test_odd", "mixes": "pixels"}))
    finally:
        METHODS.remove("test_span_mix")
    assert "test_odd" not in METHODS
