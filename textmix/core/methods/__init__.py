"""Training methods: one file each, registered under their recipe names (see :mod:`.base`)."""

import importlib

from textmix.core.methods.base import (
    METHODS,
    Method,
    Param,
    StepBatch,
    build_method,
    describe_methods,
    get_method,
    head_features,
    loss_section,
    method_names,
    method_params,
    register_method,
)

# each built-in method's module registers it; this order is the order of names and keys in help and docs
for _module in (
    "baseline",
    "mixup",
    "regmixup",
    "label_smoothing",
    "erl",
    "focal",
    "mbls",
    "camixup",
    "rankmixup",
    "mit",
    "kernel_mixup",
    "aum_mixup",
):
    importlib.import_module(f"textmix.core.methods.{_module}")
BUILT_IN = method_names()  # textmix's own methods (before any program registers its own)

__all__ = [
    "METHODS",
    "Method",
    "Param",
    "StepBatch",
    "build_method",
    "describe_methods",
    "head_features",
    "get_method",
    "loss_section",
    "method_names",
    "method_params",
    "register_method",
]
