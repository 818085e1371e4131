"""``label_smoothing`` (Szegedy et al. 2016): cross entropy against (1 − ε)·y + ε/K."""

from textmix.core.losses import smooth_targets, soft_target_cross_entropy
from textmix.core.methods.base import Method, Param, register_method


@register_method
class LabelSmoothing(Method):
    name = "label_smoothing"
    summary = "ε spread over all K classes"
    paper = "Szegedy et al., CVPR 2016; Müller et al., NeurIPS 2019"
    params = {
        "label_smoothing": Param(
            0.1,
            "ε of method label_smoothing (spread over all K classes).",
            lambda v: 0 <= v < 1,
            "in [0, 1) (1 would train on uniform targets: no label information)",
            symbol="ε",
        )
    }

    def loss(self, logits, targets):
        return soft_target_cross_entropy(logits, smooth_targets(targets, self.label_smoothing))
