"""``baseline``: empirical risk minimization, cross entropy on the clean batch."""

from textmix.core.methods.base import Method, register_method


@register_method
class Baseline(Method):
    name = "baseline"
    report_role = "reference"
    summary = "ERM"
