"""What a post-hoc calibrator is: fitted on validation logits, applied to logits, saved as JSON.

    calibrator = make_calibrator("temperature").fit(val_logits, val_labels)
    probs = calibrator(test_logits)               # (N, K) float64 probabilities
    saved = calibrator.to_json()                  # {"name": "temperature", "state": {"temperature": 1.7}}
    same = calibrator_from_json(saved)

A new calibrator is one subclass with ``name``, ``_fit`` and ``_scale`` (torch-uncertainty's
``Scaler`` is the model), registered with :func:`register_calibrator`. ``_scale`` maps logits to
calibrated logits or log-probabilities (anything whose softmax is the calibrated distribution);
``__call__`` takes that softmax in float64. State is plain JSON: nothing is ever unpickled.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from textmix.core.errors import ArgumentError


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


class Calibrator:
    """A post-hoc calibrator. Subclasses set ``name`` and implement ``_fit`` and ``_scale`` (and
    ``state_dict`` / ``load_state_dict`` for their fitted values).

    Scaling happens in the logits' own precision (a model's float32 logits stay float32 until the
    softmax, which is float64), so the same logits always give the same probabilities.
    """

    name: ClassVar[str]

    def fit(self, logits, labels) -> Calibrator:
        """Fit on validation logits (N, K) and labels (N,); returns self."""
        z = as_logits(logits, "validation logits")
        y = torch.as_tensor(np.asarray(labels)).long().cpu()
        if y.dim() != 1 or len(y) != len(z) or len(z) == 0:
            raise ArgumentError(
                f"need logits (N, K) and labels (N,) with N > 0, got {tuple(z.shape)} and {tuple(y.shape)}"
            )
        if y.min() < 0 or y.max() >= z.shape[1]:
            raise ArgumentError(
                f"labels must be in 0..{z.shape[1] - 1}, found {int(y.min() if y.min() < 0 else y.max())}"
            )
        self._fit(z.double(), y)
        return self

    def __call__(self, logits) -> np.ndarray:
        """Calibrated probabilities (N, K), float64."""
        return softmax_probs(self._scale(as_logits(logits)))

    def _fit(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError

    def _scale(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def to_json(self) -> dict:
        return {"name": self.name, "state": self.state_dict()}


_CALIBRATORS: dict[str, type[Calibrator]] = {}


def register_calibrator(cls: type[Calibrator]) -> type[Calibrator]:
    """Make the calibrator known by ``cls.name`` (recipes, ``predict``, saved models). A class decorator."""
    if not getattr(cls, "name", None):
        raise ValueError(f"{cls.__name__} needs a class attribute name")
    _CALIBRATORS[cls.name] = cls
    return cls


def calibrator_names() -> tuple[str, ...]:
    return tuple(_CALIBRATORS)


def make_calibrator(name: str) -> Calibrator:
    """A new, unfitted calibrator."""
    if name not in _CALIBRATORS:
        raise ArgumentError(f"calibrator {name!r} is unknown; known: {', '.join(_CALIBRATORS)}")
    return _CALIBRATORS[name]()


def calibrator_from_json(saved, where: str = "the saved calibrator") -> Calibrator:
    """A fitted calibrator from ``to_json()`` output; a damaged or unknown one is named."""
    if (
        not isinstance(saved, dict)
        or not isinstance(saved.get("name"), str)
        or not isinstance(saved.get("state"), dict)
    ):
        raise ArgumentError(f"{where} must be {{'name': str, 'state': {{...}}}}, got {str(saved)[:100]}")
    calibrator = make_calibrator(saved["name"])
    try:
        calibrator.load_state_dict(saved["state"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArgumentError(f"{where} ({saved['name']}) holds an invalid state: {error}") from None
    return calibrator
