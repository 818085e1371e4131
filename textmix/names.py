"""The names of the built-in registry entries, for help texts: importing this module imports
nothing (``textmix calibrate --help`` and ``textmix predict --help`` answer without loading torch).
``tests/test_extension_points.py`` checks that each table equals what its registry holds once the
built-ins are registered; entries a plugin registers appear in errors and ``--calibrators all``."""

CALIBRATORS = ("temperature", "vector", "matrix", "dirichlet", "ensemble_temperature", "histogram", "isotonic",
               "platt", "beta")  # fmt: skip
CONFORMAL_SCORES = ("lac", "aps", "raps", "saps")
FIGURE_KINDS = ("metrics_by_method", "reliability", "alpha", "label_entropy", "ood", "joint_density", "perturbation",
                "curves", "risk_coverage", "adaptive_reliability", "calibrators", "conformal", "cells")  # fmt: skip
