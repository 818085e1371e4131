import pytest
import torch
from torchvision.transforms import v2

from textmix.core.mixer import Mixup, MixupPlan


def test_input_mixup_matches_torchvision_mixup():
    images = torch.rand(6, 3, 8, 8)
    labels = torch.tensor([0, 3, 1, 2, 3, 0])
    torch.manual_seed(7)
    lam = float(torch.distributions.Beta(torch.tensor([0.4]), torch.tensor([0.4])).sample())
    torch.manual_seed(7)
    ref_images, ref_targets = v2.MixUp(alpha=0.4, num_classes=4)(images, labels)
    # torchvision pairs each example with its predecessor: batch.roll(1, 0)
    plan = MixupPlan(lam=torch.tensor(lam), perm=torch.arange(6).roll(1))
    torch.testing.assert_close(plan.mix(images), ref_images)
    torch.testing.assert_close(plan.mix_targets(labels, 4), ref_targets)


@pytest.mark.parametrize("shape", [(5, 7, 4), (5, 3, 6, 6), (5, 9)])
def test_per_sample_lambda_broadcasts(shape):
    x = torch.randn(shape)
    plan = Mixup(1.0, per_sample=True, generator=torch.Generator().manual_seed(0)).plan(5)
    assert plan.lam.shape == (5,)
    mixed = plan.mix(x)
    for i in range(5):
        lam = plan.lam[i]
        torch.testing.assert_close(mixed[i], lam * x[i] + (1 - lam) * x[plan.perm[i]])


def test_alpha_zero_is_identity():
    plan = Mixup(0.0, generator=torch.Generator().manual_seed(0)).plan(4)
    x = torch.randn(4, 3, 2)
    assert float(plan.lam) == 1.0
    torch.testing.assert_close(plan.mix(x), x)
    torch.testing.assert_close(plan.mix_targets(torch.tensor([0, 1, 2, 1]), 3), torch.eye(3)[[0, 1, 2, 1]])


def test_generator_makes_draws_reproducible_and_rank_specific():
    def draw(seed):
        mixer = Mixup(0.4, generator=torch.Generator().manual_seed(seed))
        return [mixer.plan(8) for _ in range(3)]

    a, b, c = draw(1), draw(1), draw(2)
    for p, q in zip(a, b):
        assert torch.equal(p.lam, q.lam) and torch.equal(p.perm, q.perm)
    assert any(not torch.equal(p.perm, r.perm) or not torch.equal(p.lam, r.lam) for p, r in zip(a, c))


def test_global_rng_is_untouched():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    Mixup(0.4, generator=torch.Generator().manual_seed(0)).plan(8)
    torch.testing.assert_close(torch.rand(3), expected)


def test_lambda_distribution_is_beta():
    mixer = Mixup(0.4, per_sample=True, generator=torch.Generator().manual_seed(0))
    lam = mixer.sample_lam(20000)
    # Beta(0.4, 0.4): mean 0.5, variance 1 / (4 (2α + 1)) = 0.1389
    assert abs(float(lam.mean()) - 0.5) < 0.01
    assert abs(float(lam.var()) - 1 / (4 * 1.8)) < 0.005


def test_inputs_and_targets_use_the_same_permutation():
    x = torch.arange(6.0).view(6, 1)  # the feature is the example's own label
    labels = torch.arange(6)
    plan = Mixup(1.0, per_sample=True, generator=torch.Generator().manual_seed(4)).plan(6)
    targets = plan.mix_targets(labels, 6)
    expected_feature = (targets * torch.arange(6.0)).sum(1, keepdim=True)
    torch.testing.assert_close(plan.mix(x), expected_feature)


def test_soft_targets_are_mixed_too():
    soft = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    plan = MixupPlan(lam=torch.tensor(0.25), perm=torch.tensor([1, 0]))
    torch.testing.assert_close(plan.mix_targets(soft, 2), torch.tensor([[0.375, 0.625], [0.725, 0.275]]))


def test_mask_union_and_padding_stays_zero():
    emb = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    emb = emb * mask[..., None]  # padded positions are zero vectors
    plan = MixupPlan(lam=torch.tensor(0.3), perm=torch.tensor([1, 0]))
    assert plan.mix_mask(mask).tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 0]]
    mixed = plan.mix(emb)
    assert torch.all(mixed[:, 4] == 0)
    torch.testing.assert_close(mixed[1, 2:4], 0.7 * emb[0, 2:4])


@pytest.mark.parametrize("lam,expected", [(0.7, [0, 1]), (0.3, [1, 0]), (0.5, [0, 1])])
def test_features_only_keeps_label_of_nearer_example(lam, expected):
    plan = MixupPlan(lam=torch.tensor(lam), perm=torch.tensor([1, 0]), mode="features_only")
    targets = plan.mix_targets(torch.tensor([0, 1]), 2)
    assert targets.argmax(1).tolist() == expected
    assert torch.all(targets.max(1).values == 1.0)  # hard labels
    torch.testing.assert_close(plan.mix(torch.tensor([[1.0], [0.0]]))[0], torch.tensor([lam]))


def test_features_only_per_sample():
    plan = MixupPlan(lam=torch.tensor([0.9, 0.1, 0.5]), perm=torch.tensor([1, 2, 0]), mode="features_only")
    assert plan.mix_targets(torch.tensor([0, 1, 2]), 3).argmax(1).tolist() == [0, 2, 2]


def test_batch_size_one_and_odd_sizes():
    mixer = Mixup(0.4, generator=torch.Generator().manual_seed(0))
    one = mixer.plan(1)
    x = torch.randn(1, 4, 3)
    torch.testing.assert_close(one.mix(x), x)  # paired with itself: unchanged
    torch.testing.assert_close(one.mix_targets(torch.tensor([2]), 3), torch.tensor([[0.0, 0.0, 1.0]]))
    odd = mixer.plan(7)
    assert sorted(odd.perm.tolist()) == list(range(7))
    assert odd.mix(torch.randn(7, 2)).shape == (7, 2)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        Mixup(-0.1)
    with pytest.raises(ValueError, match="mode must be one of"):
        Mixup(0.4, mode="cutmix")
    plan = Mixup(0.4).plan(4)
    with pytest.raises(ValueError, match="batch size 3 but the plan was drawn for 4"):
        plan.mix(torch.randn(3, 2))
    with pytest.raises(ValueError, match="num_classes=3"):
        plan.mix_targets(torch.rand(4, 2), 3)


@pytest.mark.parametrize("per_sample", [False, True])
def test_lambda_is_torch_beta_sample_and_leaves_the_global_rng_alone(per_sample):
    mixer = Mixup(0.3, per_sample=per_sample, generator=torch.Generator().manual_seed(11))
    seed = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(11)))
    shape = (6,) if per_sample else ()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expected = torch.distributions.Beta(torch.full(shape, 0.3), torch.full(shape, 0.3)).sample()
    torch.manual_seed(0)
    before = torch.get_rng_state()
    lam = mixer.sample_lam(6)
    assert torch.equal(lam, expected) and lam.shape == shape
    assert torch.equal(torch.get_rng_state(), before)
