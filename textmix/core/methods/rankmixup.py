"""``rankmixup``: RankMixup (Noh et al., ICCV 2023). The clean batch is trained with cross entropy;
mixed copies are not trained on mixed labels but ranked: a mix must not be more confident than
the clean examples it comes from.

- ``rankmixup_loss: mrl`` (mixup ranking loss): for each mix of two different labels,
  ReLU(max_k z̃_k − max_k z_k + m) on the logits z of the clean example and z̃ of its mix, averaged
  over the batch (pairs with one label count as 0, as in the authors' code).
- ``rankmixup_loss: mndcg`` (M-NDCG): ``rankmixup_mixes`` mixes per example, each with its own λ
  and pairing; the clean example (relevance 1) and its mixes (relevance max_k ỹ_k, the larger
  label weight) are ordered by relevance, and the loss is 1 − NDCG of their confidences max_k p_k:
  DCG = Σ_r conf_r / log2(r + 1), IDCG the same sum of relevances, NDCG = DCG / IDCG when
  IDCG > DCG else IDCG / DCG.

Loss: CE(clean) + w · ranking term. The paper's CIFAR settings: α = 2, w = 0.1, m = 2 (MRL) and 3
mixes (M-NDCG). One forward pass of the clean batch and one per mix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textmix.core.methods.base import Method, Param, StepBatch, register_method

LOSSES = ("mrl", "mndcg")

MAX_MIXES = 16  # the paper uses a handful; each one costs a forward pass held for backward


@register_method
class RankMixup(Method):
    name = "rankmixup"
    mixing = "full"
    summary = "clean cross entropy + w × a ranking loss: mixes no more confident than clean examples"
    paper = "Noh et al., ICCV 2023"
    passes = "2 (mrl), 1 + mixes (mndcg)"
    params = {
        "rankmixup_loss": Param(
            "mrl", "ranking term of method rankmixup: mrl or mndcg.", lambda v: v in LOSSES, "mrl or mndcg"
        ),
        "rankmixup_weight": Param(
            0.1, "w of method rankmixup (weight of the ranking term).", lambda v: v >= 0, ">= 0", symbol="w"
        ),
        "rankmixup_margin": Param(2.0, "m of rankmixup_loss mrl (logit margin).", lambda v: v >= 0, ">= 0", symbol="m"),
        # each mix is a forward pass whose activations stay for the backward pass: memory grows with M
        "rankmixup_mixes": Param(
            3, "mixes per example of rankmixup_loss mndcg.", lambda v: 1 <= v <= MAX_MIXES, f"in 1..{MAX_MIXES}"
        ),
    }

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        clean = batch.forward(None)  # (B, K)
        ce = F.cross_entropy(clean, batch.labels.to(clean.device))
        if self.rankmixup_loss == "mrl":
            term = self.mrl(clean, batch.forward(batch.plan), two_labels(batch))
        else:
            plans = [batch.plan] + [
                batch.mixer.plan(len(batch.labels), clean.device) for _ in range(self.rankmixup_mixes - 1)
            ]
            mixed = torch.stack([batch.forward(p) for p in plans], dim=1)  # (B, M, K)
            targets = torch.stack([batch.targets(p) for p in plans], dim=1)  # (B, M, K)
            term = self.mndcg(clean, mixed, targets)
        return ce + self.rankmixup_weight * term

    def mrl(self, clean: torch.Tensor, mixed: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of ReLU(max z̃ − max z + m) where ``ranked`` (B,) (a two-label mix)."""
        gap = mixed.max(dim=-1).values - clean.max(dim=-1).values  # (B,)
        return (ranked * F.relu(gap + self.rankmixup_margin)).mean()

    @staticmethod
    def mndcg(clean: torch.Tensor, mixed: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean of 1 − NDCG over the batch; clean (B, K), mixed and targets (B, M, K)."""
        relevance = targets.max(dim=-1).values  # (B, M)
        order = relevance.argsort(dim=1, descending=True)
        confidence = F.softmax(mixed, dim=-1).max(dim=-1).values.gather(1, order)  # (B, M)
        relevance = relevance.gather(1, order)
        confidence = torch.cat([F.softmax(clean, dim=-1).max(dim=-1, keepdim=True).values, confidence], dim=1)
        relevance = torch.cat([torch.ones_like(relevance[:, :1]), relevance], dim=1)  # (B, M + 1)
        discount = torch.log2(torch.arange(2, relevance.shape[1] + 2, device=clean.device, dtype=clean.dtype))
        dcg, idcg = (confidence / discount).sum(1), (relevance / discount).sum(1)  # (B,)
        ndcg = torch.where(idcg > dcg, dcg / idcg, idcg / dcg)
        return (1 - ndcg).mean()


def two_labels(batch: StepBatch) -> torch.Tensor:
    """(B,) True where the plan mixes two different labels with 0 < λ < 1."""
    plan, labels = batch.plan, batch.labels.to(batch.plan.perm.device)
    lam = plan.lam.expand(plan.batch_size) if plan.lam.dim() == 0 else plan.lam
    return (labels != labels[plan.perm]) & (lam > 0) & (lam < 1)
