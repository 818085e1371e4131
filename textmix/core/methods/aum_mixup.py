"""``aum_mixup``: mixup guided by the area under the margin and saliency (Park & Caragea, ACL 2022,
"On the Calibration of Pre-trained Language Models using Mixup Guided by Area Under the Margin and
Saliency").

1. For the first ``aum_epochs`` epochs the model trains with cross entropy while each training
   example's margin (its label's logit minus the largest other logit) is recorded every time it
   is seen; its AUM is the mean margin, and its saliency |∂CE/∂z| = |softmax(z) − y| (K values) is
   the last one recorded.
2. Examples whose AUM is at least the median are easy-to-learn, the others hard-to-learn or
   ambiguous. From then on each example is mixed twice with an example of the other group in its
   batch: the one whose current saliency is most similar (cosine) to its own recorded saliency and
   the most dissimilar one, with one λ ~ Beta(α, α):

       loss = (1 − 2w)·CE(clean) + w·CE_mix(most similar) + w·CE_mix(most dissimilar)

   (the authors use w = 0.1 and α = 0.4). A batch without the other group pairs within the batch.

Where this differs from the authors' code, for one resumable run: the statistics come from the
run's own first epochs (the authors train a separate 3-epoch model to measure them), both groups
come from one shuffled batch (the authors draw one batch from each group), and the mixing happens
at the recipe's mix point (the authors mix logits; ``mix_point: pooled`` is that up to dropout).
The statistics are per-example state in the checkpoints, summed over processes before each one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textmix.core.methods.base import Method, Param, StepBatch, register_method
from textmix.core.mixer import MixupPlan


@register_method
class AUMMixup(Method):
    name = "aum_mixup"
    mixing = "full"
    summary = "easy (high AUM) examples mixed with hard ones, partners chosen by saliency"
    paper = "Park & Caragea, ACL 2022"
    passes = "1 while measuring, then 3"
    needs = frozenset({"index"})
    params = {
        "aum_epochs": Param(3, "epochs of method aum_mixup that measure AUM before mixing.", lambda v: v >= 1, ">= 1"),
        "aum_weight": Param(
            0.1,
            "w of method aum_mixup (weight of each of its two mixes).",
            lambda v: 0 <= v <= 0.5,
            "in [0, 0.5]",
            symbol="w",
        ),
    }
    STATE = ("margin_sum", "seen", "saliency")

    @classmethod
    def recipe_checks(cls, loss, train, mixup) -> list[tuple[bool, str, str]]:
        expected = f"< train.epochs ({train.epochs}), to leave epochs that mix"
        return [(loss.aum_epochs < train.epochs, "loss.aum_epochs", expected)]

    def prepare(self, num_examples: int, num_classes: int) -> None:
        self.margin_sum = torch.zeros(num_examples, dtype=torch.float64)  # (N,)
        self.seen = torch.zeros(num_examples, dtype=torch.int64)  # (N,) times recorded
        self.saliency = torch.zeros(num_examples, num_classes)  # (N, K) last |softmax − y|
        self._synced = (self.margin_sum.clone(), self.seen.clone())
        self.measuring = True

    def start_epoch(self, epoch: int) -> None:
        self.measuring = epoch < self.aum_epochs

    def aum(self) -> torch.Tensor:
        """(N,) mean margin of each example (NaN: never seen)."""
        return self.margin_sum / self.seen.double()

    def easy(self) -> torch.Tensor:
        """(N,) True for examples whose AUM is at least the median (over the examples seen)."""
        aum = self.aum()
        seen = self.seen > 0
        return seen & (aum >= aum[seen].median()) if bool(seen.any()) else seen

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        clean = batch.forward(None)  # (B, K)
        labels = batch.labels.to(clean.device)
        ce = F.cross_entropy(clean, labels)
        onehot = F.one_hot(labels, batch.num_classes).to(clean.dtype)
        saliency = (clean.detach().softmax(dim=-1) - onehot).abs()  # (B, K)
        index = batch.index.cpu()
        if self.measuring:
            true = clean.detach().gather(1, labels[:, None])[:, 0]
            other = clean.detach().masked_fill(onehot.bool(), float("-inf")).max(dim=1).values
            self.margin_sum.index_add_(0, index, (true - other).double().cpu())
            self.seen.index_add_(0, index, torch.ones_like(index))
            self.saliency[index] = saliency.float().cpu()
            return ce
        similar, dissimilar = self.partners(self.saliency[index].to(clean.device), saliency, self.easy()[index])
        mixes = [MixupPlan(batch.plan.lam, p, batch.plan.mode, batch.plan.site) for p in (similar, dissimilar)]
        mixed = sum(self.loss(batch.forward(p), batch.targets(p)) for p in mixes)
        return (1 - 2 * self.aum_weight) * ce + self.aum_weight * mixed

    @staticmethod
    def partners(
        recorded: torch.Tensor, current: torch.Tensor, easy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) most and least similar partner of each example among the other group's examples
        (any other example when the batch has none): cosine of its recorded saliency (B, K) with
        the partner's current one (B, K)."""
        similarity = F.cosine_similarity(recorded[:, None, :], current[None, :, :], dim=-1, eps=1e-6)  # (B, B)
        size = len(easy)
        easy = easy.to(similarity.device)
        allowed = easy[:, None] != easy[None, :]
        others = (
            ~torch.eye(size, dtype=torch.bool, device=similarity.device)
            if size > 1
            else torch.ones(1, 1, dtype=torch.bool)
        )
        allowed = torch.where(allowed.any(dim=1, keepdim=True), allowed, others.to(similarity.device))
        most = similarity.masked_fill(~allowed, float("-inf")).argmax(dim=1)
        least = similarity.masked_fill(~allowed, float("inf")).argmin(dim=1)
        return most, least

    def synchronize(self, reduce) -> None:
        margin_sum, seen = self._synced
        fresh = (self.seen - seen) > 0  # recorded here since the last synchronization
        weights = reduce(fresh.float())  # (N,) processes that recorded each example
        latest = reduce(self.saliency * fresh[:, None])
        self.saliency = torch.where(weights[:, None] > 0, latest / weights.clamp(min=1)[:, None], self.saliency)
        self.margin_sum = margin_sum + reduce(self.margin_sum - margin_sum)
        self.seen = seen + reduce(self.seen - seen)
        self._synced = (self.margin_sum.clone(), self.seen.clone())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key) for key in self.STATE}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        super().load_state_dict(state)
        self._synced = (self.margin_sum.clone(), self.seen.clone())
