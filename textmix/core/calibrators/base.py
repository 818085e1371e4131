"""What a post-hoc calibrator is: fitted on validation logits, applied to logits, saved as JSON.

    calibrator = make_calibrator("temperature").fit(val_logits, val_labels)
    probs = calibrator(test_logits)               # (N, K) float64 probabilities
    saved = calibrator.to_json()                  # {"name": "temperature", "state": {"temperature": 1.7}}
    same = calibrator_from_json(saved)            # textmix.core.calibrators.stored: checked when read

A new calibrator is one subclass with ``name``, ``_fit`` and ``_scale`` (torch-uncertainty's
``Scaler`` is the model), registered with :func:`register_calibrator`. ``_scale`` maps logits to
calibrated logits or log-probabilities (anything whose softmax is the calibrated distribution);
``__call__`` takes that softmax in float64. State is plain JSON: nothing is ever unpickled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from textmix.core.errors import ArgumentError
from textmix.core.registry import Registry

logger = logging.getLogger(__name__)
EXAMPLES_PER_PARAMETER = 10  # below this many validation examples per parameter a fit is flagged as unreliable


NUMPY_PRELUDE = """\
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def one_vs_rest(z, maps, apply):
    # each class's probability mapped alone: the positive class of two (p0 = 1 - p1), else every
    # class, rows renormalized (all zero: uniform); no probability below 1e-12
    p = softmax(z)
    if p.shape[1] == 2:
        p1 = apply(maps[0], p[:, 1])
        out = np.stack([1 - p1, p1], axis=1)
    else:
        out = np.stack([apply(m, p[:, c]) for c, m in enumerate(maps)], axis=1)
        out[out.sum(axis=1) == 0] = 1.0 / p.shape[1]
    out = np.maximum(out, 1e-12)
    return out / out.sum(axis=1, keepdims=True)
"""
UNCALIBRATED_NUMPY_CODE = "p = softmax(z)"


def as_logits(logits, what: str = "logits") -> torch.Tensor:
    """(N, K) logits as a CPU tensor: float32 and float64 keep their precision, other floating
    types (half, bfloat16) become float32; NaN or infinite values are refused with their row."""
    z = torch.from_numpy(np.asarray(logits)) if not isinstance(logits, torch.Tensor) else logits.detach().cpu()
    if not z.dtype.is_floating_point:
        z = z.double()
    elif z.dtype not in (torch.float32, torch.float64):
        z = z.float()
    if z.dim() != 2 or z.shape[1] < 2:
        raise ArgumentError(f"{what} must have shape (N, K) with K >= 2 classes, got {tuple(z.shape)}")
    bad = (~torch.isfinite(z)).any(dim=1).nonzero()
    if len(bad):
        raise ArgumentError(f"{what} have NaN or infinite values (row {int(bad[0]) + 1} of {len(z)})")
    return z


def softmax_probs(scaled: torch.Tensor) -> np.ndarray:
    """softmax in float64 of (N, K) scaled logits: the probabilities every calibrator returns."""
    return torch.softmax(scaled.double(), dim=1).numpy()


def uncalibrated_probs(logits) -> np.ndarray:
    """softmax in float64 of (N, K) logits: the probabilities before any calibrator."""
    return softmax_probs(as_logits(logits))


class Calibrator:
    """A post-hoc calibrator. Subclasses set ``name`` and implement ``_fit`` and ``_scale`` (and
    ``state_dict`` / ``load_state_dict`` for their fitted values).

    Scaling happens in the logits' own precision (a model's float32 logits stay float32 until the
    softmax, which is float64), so the same logits always give the same probabilities.
    """

    name: ClassVar[str]
    binary_only: ClassVar[bool] = False  # Platt and Beta calibrate the positive class of two
    # The saved state applied with NumPy alone (``textmix export``'s run_onnx.py and README): statements
    # setting p (N, K) from z, float64 logits (N, K), and s, the saved state, with NUMPY_PRELUDE's
    # helpers; None: the calibrator has no NumPy form and export refuses it.
    numpy_code: ClassVar[str | None] = None

    def n_parameters(self, num_classes: int) -> int:
        """How many values the fit estimates for K classes (what a validation split must outnumber)."""
        return 1

    def fit(self, logits, labels) -> Calibrator:
        """Fit on validation logits (N, K) and labels (N,); returns self. Refuses what it cannot fit
        (one class, fewer examples than parameters, a binary-only calibrator on K > 2) and logs a
        warning when there are fewer than 10 examples a parameter."""
        z = as_logits(logits, "validation logits")
        y = torch.as_tensor(np.asarray(labels)).long().cpu()
        n, k = z.shape
        if y.dim() != 1 or len(y) != n or n == 0:
            raise ArgumentError(
                f"need logits (N, K) and labels (N,) with N > 0, got {tuple(z.shape)} and {tuple(y.shape)}"
            )
        if y.min() < 0 or y.max() >= k:
            raise ArgumentError(f"labels must be in 0..{k - 1}, found {int(y.min() if y.min() < 0 else y.max())}")
        check_fittable(type(self), k)
        classes = torch.unique(y)
        if len(classes) < 2:
            raise ArgumentError(f"calibrator {self.name}: the validation split holds only class {int(classes[0])}; "
                                "calibrating needs examples of at least two classes")  # fmt: skip
        parameters = self.n_parameters(k)
        if n < parameters:
            raise ArgumentError(
                f"calibrator {self.name} fits {parameters} parameters for K={k} classes but validation has {n} "
                "examples; use temperature or vector scaling, or a larger validation split"
            )
        if n < EXAMPLES_PER_PARAMETER * parameters:
            logger.warning(
                "calibrator %s fits %d parameters on %d validation examples (fewer than %d a parameter): "
                "expect it to overfit; compare its cross-fitted validation metrics",
                self.name, parameters, n, EXAMPLES_PER_PARAMETER,
            )  # fmt: skip
        self._fit(z.double(), y)
        return self

    def __call__(self, logits) -> np.ndarray:
        """Calibrated probabilities (N, K), float64."""
        return self._probs(as_logits(logits))

    def _probs(self, logits: torch.Tensor) -> np.ndarray:
        """softmax of ``_scale``; calibrators that produce probabilities directly override it."""
        return softmax_probs(self._scale(logits))

    def _fit(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError

    def _scale(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The fitted values as plain JSON (lists and numbers)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore fitted values from :meth:`state_dict`'s JSON; refuses malformed ones (ValueError)."""
        pass

    def state_classes(self) -> int | None:
        """The class count the fitted state is for (None: any)."""
        return 2 if self.binary_only else None

    def to_json(self) -> dict:
        """``{"name": ..., "state": ...}``: what model folders and calibration.json store."""
        return {"name": self.name, "state": self.state_dict()}


def check_fittable(cls: type[Calibrator], num_classes: int) -> None:
    """Refuse a binary-only calibrator for K > 2 classes, naming the alternatives."""
    if cls.binary_only and num_classes != 2:
        others = ", ".join(n for n, c in CALIBRATORS.items() if not c.binary_only)
        raise ArgumentError(f"calibrator {cls.name} is for two classes; this model has {num_classes}: use {others}")


def fit_by_nll(
    params: list[torch.Tensor],
    scaled: Callable[[], torch.Tensor],
    labels: torch.Tensor,
    penalty: Callable[[], torch.Tensor] | None = None,
    max_iter: int = 200,
) -> None:
    """Minimize the NLL of ``softmax(scaled())`` (plus ``penalty()``) over ``params`` in place with
    full-batch L-BFGS (strong-Wolfe line search: deterministic, no learning rate to tune)."""
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(scaled(), labels)
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        return loss

    optimizer.step(closure)
    for p in params:
        p.requires_grad_(False)


def tensor_state(value, shape: tuple[int, ...], what: str) -> torch.Tensor:
    """A saved list of numbers as a float64 tensor of ``shape``; ValueError naming ``what`` otherwise."""
    t = torch.tensor(value, dtype=torch.float64)
    if tuple(t.shape) != shape or not torch.isfinite(t).all():
        raise ValueError(f"{what} must be finite numbers of shape {shape}, got shape {tuple(t.shape)}")
    return t


CALIBRATORS: Registry[type[Calibrator]] = Registry("calibrator")


def register_calibrator(cls: type[Calibrator]) -> type[Calibrator]:
    """Make the calibrator known by ``cls.name`` (recipes, ``predict``, saved models). A class decorator."""
    return CALIBRATORS.register(cls)


def check_calibrators(names, num_classes: int) -> None:
    """Refuse, before any training, calibrators that cannot fit a K-class model (binary-only ones)."""
    for name in names:
        check_fittable(CALIBRATORS.get(name), num_classes)


def calibrator_names() -> tuple[str, ...]:
    return CALIBRATORS.names()


def get_calibrator(name: str) -> type[Calibrator]:
    """The class registered as ``name``; UnknownNameError naming the known ones otherwise."""
    return CALIBRATORS.get(name)


def make_calibrator(name: str) -> Calibrator:
    """A new, unfitted calibrator."""
    return get_calibrator(name)()
