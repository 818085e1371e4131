import pytest
import torch
import torch.nn.functional as F

from textmix.core.losses import confidence_penalty_loss, predictive_entropy, smooth_targets, soft_target_cross_entropy
from textmix.core.mixer import MixupPlan


def test_mixup_loss_equals_interpolated_hard_label_losses():
    torch.manual_seed(0)
    logits = torch.randn(8, 5, dtype=torch.float64)
    labels = torch.randint(0, 5, (8,))
    perm = torch.randperm(8)
    lam = 0.37
    plan = MixupPlan(lam=torch.tensor(lam), perm=perm)
    expected = lam * F.cross_entropy(logits, labels) + (1 - lam) * F.cross_entropy(logits, labels[perm])
    torch.testing.assert_close(soft_target_cross_entropy(logits, plan.mix_targets(labels, 5).double()), expected)


def test_per_sample_mixup_loss():
    torch.manual_seed(1)
    logits = torch.randn(6, 3, dtype=torch.float64)
    labels = torch.randint(0, 3, (6,))
    lam = torch.rand(6, dtype=torch.float64)
    plan = MixupPlan(lam=lam, perm=torch.randperm(6))
    per_example = lam * F.cross_entropy(logits, labels, reduction="none") + (1 - lam) * F.cross_entropy(
        logits, labels[plan.perm], reduction="none"
    )
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, plan.mix_targets(labels, 3).double()), per_example.mean()
    )


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
def test_label_smoothing_matches_pytorch_convention(eps):
    torch.manual_seed(2)
    logits = torch.randn(10, 4, dtype=torch.float64)
    labels = torch.randint(0, 4, (10,))
    targets = smooth_targets(F.one_hot(labels, 4).double(), eps)
    torch.testing.assert_close(targets.sum(1), torch.ones(10, dtype=torch.float64))
    assert targets[0, labels[0]] == pytest.approx(1 - eps + eps / 4)
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, targets), F.cross_entropy(logits, labels, label_smoothing=eps)
    )


def test_confidence_penalty_hand_computed():
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    p = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    ce = (torch.log(torch.tensor(2.0)) - torch.log(p)) / 2
    h = (torch.log(torch.tensor(2.0)) + (-(p * p.log() + (1 - p) * (1 - p).log()))) / 2
    torch.testing.assert_close(predictive_entropy(logits).mean(), h.double())
    torch.testing.assert_close(confidence_penalty_loss(logits, targets, 0.5), (ce - 0.5 * h).double())
    with pytest.raises(ValueError, match="kappa"):
        confidence_penalty_loss(logits, targets, -1)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="differ"):
        soft_target_cross_entropy(torch.randn(2, 3), torch.rand(2, 4))
    with pytest.raises(ValueError, match="epsilon"):
        smooth_targets(torch.rand(2, 3), 1.5)
