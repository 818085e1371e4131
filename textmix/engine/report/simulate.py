"""Mixed training labels simulated with textmix's own mixer (the paper's Figure 5)."""

from __future__ import annotations

import numpy as np
import torch

from textmix.core.metrics import entropy
from textmix.core.mixer import Mixup


def mixed_label_entropy(label_counts: list[int], alpha: float, batch_size: int, draws: int = 20_000, seed: int = 0):
    """Entropies (nats) of ``draws`` mixed training targets drawn by textmix's Mixup (one λ per
    batch of ``batch_size``) from labels with these class counts (the paper's Figure 5)."""
    rng = np.random.default_rng(seed)
    pool = np.repeat(np.arange(len(label_counts)), label_counts)
    mixer = Mixup(alpha, generator=torch.Generator().manual_seed(seed))
    out = []
    while sum(len(h) for h in out) < draws:
        batch = torch.from_numpy(rng.choice(pool, size=batch_size, replace=False))
        out.append(entropy(mixer.plan(batch_size).mix_targets(batch, len(label_counts)).numpy()))
    return np.concatenate(out)[:draws]
