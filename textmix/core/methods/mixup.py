"""``mixup`` (Zhang et al. 2018, at the task's mix point) and ``mixup_features_only`` (inputs mixed,
the nearer example's label kept: the ablation of Thulasidasan et al. 2019, Section 5)."""

from textmix.core.methods.base import Method, register_method


@register_method
class Mixup(Method):
    name = "mixup"
    mixing = "full"
    report_role = "mixup"
    summary = "λ ~ Beta(α, α) mixes inputs and labels"
    paper = "Zhang et al., ICLR 2018; Thulasidasan et al., NeurIPS 2019"


@register_method
class MixupFeaturesOnly(Method):
    name = "mixup_features_only"
    mixing = "features_only"
    summary = "mixed inputs, label of the nearer example"
    paper = "Thulasidasan et al., NeurIPS 2019, Section 5"
