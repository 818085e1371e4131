"""Each method's training loss, against a hand-written reference on a fixed plan."""

import torch
import torch.nn.functional as F

from textmix.core.mixer import MixupPlan
from textmix.engine.optimizers import step_loss
from textmix.engine.recipe import recipe_from_dict
from textmix.text.models import KimCNN


def test_regmixup_is_clean_cross_entropy_plus_eta_times_the_mixup_loss():
    torch.manual_seed(0)
    model = KimCNN(vocab_size=30, num_classes=3, embed_dim=8, num_filters=4).eval()  # no dropout noise
    inputs = {"input_ids": torch.randint(2, 30, (4, 7)), "attention_mask": torch.ones(4, 7, dtype=torch.long)}
    labels = torch.tensor([0, 2, 1, 2])
    plan = MixupPlan(lam=torch.tensor(0.8), perm=torch.tensor([3, 2, 1, 0]))
    recipe = recipe_from_dict({"method": "regmixup", "mixup": {"alpha": 10}, "loss": {"regmixup_eta": 0.5}})
    clean = model(**inputs)
    mixed = model(**inputs, plan=plan)
    targets = 0.8 * F.one_hot(labels, 3).float() + 0.2 * F.one_hot(labels[plan.perm], 3).float()
    expected = F.cross_entropy(clean, labels) + 0.5 * F.cross_entropy(mixed, targets)
    torch.testing.assert_close(step_loss(recipe, model, inputs, labels, 3, plan), expected)
    mixup = recipe_from_dict({"method": "mixup"})
    torch.testing.assert_close(step_loss(mixup, model, inputs, labels, 3, plan), F.cross_entropy(mixed, targets))
