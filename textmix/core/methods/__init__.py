"""Training methods: one file each, registered under their recipe names (see :mod:`.base`)."""

# the built-in methods register themselves; the import order is the order of recipe keys and docs
from textmix.core.methods import baseline, erl, label_smoothing, mixup, regmixup  # noqa: E402, F401, I001
from textmix.core.methods.base import (
    Method,
    Param,
    StepBatch,
    build_method,
    describe_methods,
    get_method,
    loss_section,
    method_names,
    method_params,
    register_method,
)

__all__ = [
    "Method",
    "Param",
    "StepBatch",
    "build_method",
    "describe_methods",
    "get_method",
    "loss_section",
    "method_names",
    "method_params",
    "register_method",
]
