"""The mixup variants that claim to fix mixup's calibration (CAMixup, RankMixup, MIT, kernel mixup,
AUM-guided mixup): each loss or λ rule against the paper's equation written out here, by hand or
with a small independent reference (loops, scipy.stats), and their per-class / per-example state."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from textmix.core.errors import RecipeError
from textmix.core.methods import StepBatch, build_method, head_features
from textmix.core.mixer import Mixup, MixupPlan
from textmix.engine.recipe import recipe_from_dict

LABELS = torch.tensor([0, 2, 1, 2])
X = torch.randn(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
W = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def linear(plan):
    """A linear 'model' z = x W on the (mixed) batch."""
    return (X if plan is None else plan.mix(X)) @ W


def nonlinear(plan):
    """A model that is not linear in its input: outputs of mixes are not mixes of outputs."""
    x = X if plan is None else plan.mix(X)
    return torch.tanh(x @ W) * 3 + (x**2) @ W


def method(name, epochs=10, **loss):
    recipe = recipe_from_dict({"method": name, "loss": loss, "train": {"epochs": epochs}})
    built = build_method(recipe.method, recipe.loss)
    built.prepare(8, 3)
    return built


def mixer(seed=0, alpha=1.0, per_sample=False):
    return Mixup(alpha, per_sample, generator=torch.Generator().manual_seed(seed))


def ce(logits, targets):
    return -(targets * torch.log_softmax(logits, 1)).sum(1).mean()


def onehot(labels):
    return F.one_hot(labels, 3).double()


# CAMixup (Wen et al. 2021) ------------------------------------------------------------------


def test_camixup_mixes_nothing_before_validation_then_only_over_confident_classes():
    plan = MixupPlan(lam=torch.tensor(0.3), perm=torch.tensor([3, 2, 1, 0]))
    cam = method("camixup")
    unmixed = MixupPlan(lam=torch.ones(4), perm=plan.perm)
    torch.testing.assert_close(
        cam.step_loss(StepBatch(nonlinear, LABELS, 3, plan)), ce(nonlinear(unmixed), onehot(LABELS))
    )
    # validation: class 0 over-confident (confidence 0.9, accuracy 0.5), class 1 under-confident
    # (0.6, 1.0), class 2 absent (keeps its choice: not mixed)
    probs = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.2, 0.6, 0.2], [0.3, 0.6, 0.1]])
    cam.after_validation(probs, np.array([0, 0, 1, 1]))
    assert cam.mix_class.tolist() == [True, False, False]
    lam = torch.tensor([0.7, 1.0, 1.0, 1.0])  # max(λ, 1 − λ) for the class-0 example only
    expected_plan = MixupPlan(lam=lam, perm=plan.perm)
    y = onehot(LABELS)
    targets = lam[:, None].double() * y + (1 - lam[:, None].double()) * y[plan.perm]
    torch.testing.assert_close(
        cam.step_loss(StepBatch(nonlinear, LABELS, 3, plan)), ce(nonlinear(expected_plan), targets)
    )
    other = method("camixup")
    other.load_state_dict(cam.state_dict())
    assert other.mix_class.tolist() == [True, False, False]
    with pytest.raises(ValueError, match=r"state 'mix_class' has shape \(5,\); this run needs \(3,\)"):
        other.load_state_dict({"mix_class": torch.zeros(5, dtype=torch.bool)})


# RankMixup (Noh et al. 2023) ----------------------------------------------------------------


def test_rankmixup_mrl_by_hand():
    """CE(clean) + w · mean_i 1[y_i ≠ y_perm(i)] · max(0, max z̃_i − max z_i + m)."""
    plan = MixupPlan(lam=torch.tensor(0.6), perm=torch.tensor([3, 1, 0, 2]))  # example 1 with itself
    clean, mixed = nonlinear(None), nonlinear(plan)
    terms = []
    for i in range(4):
        j = int(plan.perm[i])
        ranked = LABELS[i] != LABELS[j]  # a mix of one label is not ranked (the authors' mask)
        terms.append(float(ranked) * max(0.0, float(mixed[i].max() - clean[i].max()) + 0.5))
    assert [LABELS[i] != LABELS[int(plan.perm[i])] for i in range(4)] == [True, False, True, True]
    expected = F.cross_entropy(clean, LABELS) + 0.3 * sum(terms) / 4
    rank = method("rankmixup", rankmixup_weight=0.3, rankmixup_margin=0.5)
    torch.testing.assert_close(rank.step_loss(StepBatch(nonlinear, LABELS, 3, plan)), expected)


def test_rankmixup_mndcg_with_a_loop_over_examples():
    """M-NDCG: the clean example (relevance 1) then the mixes ordered by relevance max_k ỹ_k; DCG of
    the confidences over IDCG of the relevances (or its inverse when larger), loss 1 − NDCG."""
    source = mixer(seed=3)
    first = source.plan(4)
    replay = mixer(seed=3)
    plans = [replay.plan(4) for _ in range(3)]  # the batch's plan and the two the method draws
    assert torch.equal(plans[0].perm, first.perm)
    clean = nonlinear(None)
    expected = []
    for i in range(4):
        items = []
        for p in plans:
            y = p.mix_targets(LABELS, 3)[i]
            items.append((float(y.max()), float(torch.softmax(nonlinear(p)[i], 0).max())))
        items.sort(key=lambda item: -item[0])
        rel = [1.0] + [r for r, _ in items]
        conf = [float(torch.softmax(clean[i], 0).max())] + [c for _, c in items]
        dcg = sum(c / math.log2(r + 2) for r, c in enumerate(conf))
        idcg = sum(v / math.log2(r + 2) for r, v in enumerate(rel))
        expected.append(1 - (dcg / idcg if idcg > dcg else idcg / dcg))
    rank = method("rankmixup", rankmixup_loss="mndcg", rankmixup_mixes=3, rankmixup_weight=0.2)
    loss = rank.step_loss(StepBatch(nonlinear, LABELS, 3, first, mixer=source))
    torch.testing.assert_close(loss, F.cross_entropy(clean, LABELS) + 0.2 * torch.tensor(np.mean(expected)).double())


# MIT (Wang et al. 2023) ---------------------------------------------------------------------


@pytest.mark.parametrize("per_sample", [False, True])
def test_mit_recovers_each_examples_output_exactly_for_a_linear_model(per_sample):
    """If z(λx_i + (1−λ)x_j) = λz_i + (1−λ)z_j, the decoupled outputs are the clean ones, so the loss
    is the clean cross entropy of both examples of each pair: ½CE(z, y) + ½CE(z[perm], y[perm])."""
    source = mixer(seed=1, per_sample=per_sample)
    plan = source.plan(4)
    clean = linear(None)
    expected = 0.5 * F.cross_entropy(clean, LABELS) + 0.5 * F.cross_entropy(clean[plan.perm], LABELS[plan.perm])
    loss = method("mit").step_loss(StepBatch(linear, LABELS, 3, plan, mixer=source))
    torch.testing.assert_close(loss, expected)


def test_mit_weights_follow_the_papers_rule():
    """λ₁ = max(λ, 1 − λ) of the plan, λ₂ = min(λ', 1 − λ') of the next draw, redrawn while closer
    than the margin."""
    source = mixer(seed=2, per_sample=True)
    plan = source.plan(64)
    replay = mixer(seed=2, per_sample=True)
    replay.plan(64)
    second = replay.sample_lam(64)
    lam1, lam2 = method("mit").weights(StepBatch(nonlinear, LABELS, 3, plan, mixer=source))
    torch.testing.assert_close(lam1, torch.maximum(plan.lam, 1 - plan.lam))
    torch.testing.assert_close(lam2, torch.minimum(second, 1 - second))
    far = method("mit", mit_margin=0.6)
    lam1, lam2 = far.weights(StepBatch(nonlinear, LABELS, 3, mixer(seed=2, per_sample=True).plan(64), mixer=source))
    assert bool((lam1 - lam2 >= 0.6).all()) and bool((lam1 >= 0.5).all()) and bool((lam2 <= 0.5).all())
    with pytest.raises(RecipeError, match=r"loss.mit_margin=1.0 is invalid: must be in \[0, 1\)"):
        recipe_from_dict({"method": "mit", "loss": {"mit_margin": 1}})


# Kernel mixup (Bouniot et al. 2025) ---------------------------------------------------------


def test_kernel_mixup_warps_lambda_with_the_beta_inverse_cdf_of_the_pair_distance():
    features = torch.tensor([[0.0, 0.0], [0.1, 0.0], [3.0, 0.0], [0.0, 4.0]])
    perm = torch.tensor([1, 0, 3, 2])  # two close pairs, two distant ones
    lam = torch.tensor([0.2, 0.3, 0.2, 0.9])
    plan = MixupPlan(lam=lam, perm=perm)
    d = np.array([0.01, 0.01, 25.0, 25.0])
    d = d / d.mean()
    tau = 1.5 * np.exp(-(d - 1) / (2 * 0.5**2))
    expected = np.array([scipy.stats.beta.ppf(float(lam_i), t, t) for lam_i, t in zip(lam, tau)])
    kernel = method("kernel_mixup", kernel_tau_max=1.5, kernel_tau_std=0.5)
    warped = kernel.warp(lam.double().numpy(), kernel.taus(features, perm))
    np.testing.assert_allclose(warped, expected, rtol=1e-6, atol=1e-12)
    assert abs(warped[0] - 0.5) < abs(0.2 - 0.5) and abs(warped[2] - 0.5) > abs(0.2 - 0.5)  # close mix more
    seen = []

    def forward(p):
        seen.append(p)
        return nonlinear(p)

    loss = kernel.step_loss(StepBatch(forward, LABELS, 3, plan, features=lambda: features))
    warped_plan = MixupPlan(lam=torch.tensor(expected, dtype=torch.float32), perm=perm)
    torch.testing.assert_close(seen[0].lam, warped_plan.lam)
    torch.testing.assert_close(loss, ce(nonlinear(warped_plan), warped_plan.mix_targets(LABELS, 3).double()))


def test_head_features_are_the_input_of_the_last_linear_layer_in_eval_mode():
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Dropout(0.9), torch.nn.Linear(4, 3))
    model.train()
    x = torch.randn(6, 5)
    features = head_features(model, lambda: model(x))
    torch.testing.assert_close(features, torch.relu(model[0](x)))  # no dropout noise
    assert model.training and not features.requires_grad


# AUM-guided mixup (Park & Caragea 2022) -----------------------------------------------------


def test_aum_mixup_measures_margins_then_mixes_easy_with_hard_partners_chosen_by_saliency():
    aum = method("aum_mixup", aum_epochs=1, aum_weight=0.1)
    index = torch.tensor([4, 5, 6, 7])
    plan = MixupPlan(lam=torch.tensor(0.7), perm=torch.tensor([1, 0, 3, 2]))
    aum.start_epoch(0)
    clean = nonlinear(None)
    loss = aum.step_loss(StepBatch(nonlinear, LABELS, 3, plan, index))
    torch.testing.assert_close(loss, F.cross_entropy(clean, LABELS))  # measuring: cross entropy only
    margins = [float(clean[i, LABELS[i]] - max(clean[i, k] for k in range(3) if k != LABELS[i])) for i in range(4)]
    torch.testing.assert_close(aum.aum()[4:], torch.tensor(margins, dtype=torch.float64))
    assert torch.isnan(aum.aum()[:4]).all()  # never seen
    easy = torch.tensor(margins) >= torch.tensor(margins).median()
    assert aum.easy()[4:].tolist() == easy.tolist() and not aum.easy()[:4].any()
    saliency = (torch.softmax(clean, 1) - onehot(LABELS)).abs()
    torch.testing.assert_close(aum.saliency[4:], saliency.float())

    # mixing: a different batch order of the same examples, so that recorded ≠ current saliency
    aum.start_epoch(1)
    order = torch.tensor([2, 0, 3, 1])
    x2 = X[order]
    labels2 = LABELS[order]

    def model2(p):
        x = x2 if p is None else p.mix(x2)
        return torch.tanh(x @ W) * 3 + (x**2) @ W

    recorded = saliency[order].float()
    current = (torch.softmax(model2(None), 1) - onehot(labels2)).abs()
    group = easy[order]
    similar, dissimilar = [], []
    for i in range(4):
        candidates = [j for j in range(4) if group[j] != group[i]] or [j for j in range(4) if j != i]
        sims = {
            j: float(F.cosine_similarity(recorded[i : i + 1].double(), current[j : j + 1], eps=1e-6))
            for j in candidates
        }
        similar.append(max(candidates, key=lambda j: (sims[j], -j)))
        dissimilar.append(min(candidates, key=lambda j: (sims[j], j)))
    mixes = [MixupPlan(lam=plan.lam, perm=torch.tensor(p)) for p in (similar, dissimilar)]
    expected = 0.8 * F.cross_entropy(model2(None), labels2) + 0.1 * sum(
        ce(model2(p), p.mix_targets(labels2, 3).double()) for p in mixes
    )
    loss = aum.step_loss(StepBatch(model2, labels2, 3, plan, index[order]))
    torch.testing.assert_close(loss, expected)


def test_aum_mixup_state_is_summed_over_processes_and_round_trips():
    """Two processes record different examples; after synchronize each holds both's statistics."""
    one, two = method("aum_mixup"), method("aum_mixup")
    for m, rows in ((one, torch.tensor([0, 1, 2, 3])), (two, torch.tensor([4, 5, 6, 7]))):
        m.start_epoch(0)
        m.step_loss(StepBatch(nonlinear, LABELS, 3, None, rows))
    margin, saliency = one.margin_sum + two.margin_sum, one.saliency + two.saliency
    sent = []  # the second process's tensors, in call order (all processes call reduce alike)
    two.synchronize(lambda t: sent.append(t) or t)
    received = iter(sent)
    one.synchronize(lambda t: t + next(received))  # what accelerator.reduce(t, "sum") returns
    torch.testing.assert_close(one.margin_sum, margin)
    torch.testing.assert_close(one.saliency, saliency)
    assert one.seen.tolist() == [1] * 8
    copy = method("aum_mixup")
    copy.load_state_dict(one.state_dict())
    assert all(torch.equal(copy.state_dict()[k], one.state_dict()[k]) for k in one.state_dict())
    with pytest.raises(ValueError, match="method aum_mixup state 'saliency' has shape"):
        copy.load_state_dict({**one.state_dict(), "saliency": torch.zeros(2, 2)})


def test_settings_that_cannot_work_are_refused_at_recipe_load():
    with pytest.raises(RecipeError, match=r"loss.aum_epochs=5 is invalid: must be < train.epochs \(5\)"):
        recipe_from_dict({"method": "aum_mixup", "loss": {"aum_epochs": 5}, "train": {"epochs": 5}})
    with pytest.raises(RecipeError, match="loss.rankmixup_loss='ndcg' is invalid: must be mrl or mndcg"):
        recipe_from_dict({"method": "rankmixup", "loss": {"rankmixup_loss": "ndcg"}})
    with pytest.raises(RecipeError, match="loss.kernel_tau_std=0.0 is invalid: must be > 0"):
        recipe_from_dict({"method": "kernel_mixup", "loss": {"kernel_tau_std": 0}})
    for name in ("camixup", "rankmixup", "mit", "kernel_mixup", "aum_mixup"):
        with pytest.raises(RecipeError, match="never mixes"):
            recipe_from_dict({"method": name, "mixup": {"alpha": 0}})
