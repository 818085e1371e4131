"""``regmixup`` (Pinto et al., NeurIPS 2022): cross entropy on the clean batch plus η × the mixup
loss of a mixed copy (its paper uses α = 10). Two forward passes per step."""

from textmix.core.losses import soft_target_cross_entropy
from textmix.core.methods.base import Method, Param, StepBatch, register_method


@register_method
class RegMixup(Method):
    name = "regmixup"
    mixing = "full"
    summary = "clean cross entropy + η × the mixup loss of a mixed copy"
    paper = "Pinto et al., NeurIPS 2022"
    passes = "2"
    params = {
        "regmixup_eta": Param(
            1.0, "η of method regmixup (weight of the mixed copy's loss).", lambda v: v > 0, "> 0", symbol="η"
        )
    }

    def step_loss(self, batch: StepBatch):
        clean = batch.forward(None)  # (B, K)
        mixed = batch.forward(batch.plan)  # (B, K)
        extra = self.regmixup_eta * soft_target_cross_entropy(mixed, batch.targets(batch.plan))
        return self.loss(clean, batch.targets(None)) + extra
