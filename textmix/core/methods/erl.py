"""``erl``: the confidence penalty of Pereyra et al. (2017), CE − κ·H(softmax(z))."""

import math

from textmix.core.losses import confidence_penalty_loss
from textmix.core.methods.base import Method, Param, register_method


@register_method
class ConfidencePenalty(Method):
    name = "erl"
    summary = "confidence penalty CE − κ·H"
    paper = "Pereyra et al., ICLR workshop 2017"
    params = {
        "erl_kappa": Param(
            0.1,
            "κ of method erl (confidence penalty CE − κ·H).",
            lambda v: math.isfinite(v) and v >= 0,
            ">= 0",
            symbol="κ",
        )
    }

    def loss(self, logits, targets):
        return confidence_penalty_loss(logits, targets, self.erl_kappa)
