"""What a training method is: a mixing policy and a loss, registered under its recipe name.

A method is built once per run (``build_method``) and asked for the loss of every training batch
through :meth:`Method.step_loss`. The batch arrives as a :class:`StepBatch`, whose ``forward`` runs
the model under a mixup plan (``None``: clean), so a method that needs a second pass (RegMixup) or
a clean pass makes it itself; ``mixer`` draws further plans (several mixes of one batch),
``features`` gives the vectors the model's head reads (pair distances) and ``index`` (each
example's row in the training split) serves methods that keep per-example statistics across
epochs. The engine loop and ``MixupTrainer`` call the same objects, so each method has one
implementation.

A method that learns while it trains (per-class or per-example state) uses the hooks the engine
calls in this order: ``prepare(num_examples, num_classes)`` once, before a resumed run's state is
loaded; ``start_epoch(epoch)``; ``step_loss`` for each batch; ``synchronize(reduce)`` before each
checkpoint (sums what each process recorded); ``after_validation(probs, labels)`` after each
epoch's validation. Its ``state_dict`` is saved in every checkpoint, so a resumed run continues
bit-identically.

A method's own recipe keys live in the ``loss`` section and are declared as :class:`Param` s in
``params``; the section is assembled from every registered method (``loss_section``), so a new
method's keys are valid recipe keys with a docstring and a range check, nothing else to edit.

    class Focal(Method):
        name = "focal"
        params = {"focal_gamma": Param(3.0, "γ of the focal term.", lambda g: g >= 0, ">= 0")}

        def loss(self, logits, targets):
            ...

    register_method(Focal)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from textmix.core.errors import RecipeError
from textmix.core.losses import soft_target_cross_entropy
from textmix.core.mixer import Mixup, MixupPlan, one_hot_targets
from textmix.core.registry import Registry


@dataclass(frozen=True)
class Param:
    """One ``loss.<name>`` recipe key of a method.

    Args:
        default: its value when a recipe gives none (its type is the key's type).
        doc: one line for the recipe-key table.
        valid: True when a value is acceptable.
        expected: what a valid value is, for the error message (``>= 0``, ``in [0, 1]``).
        symbol: how report labels name it (``η``, ``ε``); empty: not shown.
        named: values report labels show by a name instead of the number ({0.0: "FLSD-53"}).
    """

    default: Any
    doc: str
    valid: Callable[[Any], bool] = lambda value: True
    expected: str = ""
    symbol: str = ""
    named: dict = field(default_factory=dict)


@dataclass
class StepBatch:
    """One training batch, as a method sees it.

    Args:
        forward: ``forward(plan)`` → logits (B, K) of the batch mixed by ``plan`` (None: clean).
        labels: (B,) class ids.
        num_classes: K.
        plan: this batch's mixup plan (None for methods that do not mix).
        index: (B,) rows of the examples in the training split (None where unknown).
        mixer: the run's mixer, for methods that draw more than one plan per batch (its draws are
            part of the run's checkpointed random stream).
        features: ``features()`` → (B, D) the clean batch's vectors as the model's head reads them
            (the input of its last linear layer), computed without gradients in eval mode.
    """

    forward: Callable[[MixupPlan | None], torch.Tensor]
    labels: torch.Tensor
    num_classes: int
    plan: MixupPlan | None = None
    index: torch.Tensor | None = None
    mixer: Mixup | None = None
    features: Callable[[], torch.Tensor] | None = None

    def targets(self, plan: MixupPlan | None) -> torch.Tensor:
        """(B, K) probability targets of the batch under ``plan`` (one-hot when None)."""
        if plan is None:
            return one_hot_targets(self.labels, self.num_classes)
        return plan.mix_targets(self.labels, self.num_classes)


class Method:
    """A training method: ``mixing`` says what the mixer draws, ``loss`` what is minimized.

    Attributes:
        name: the recipe's ``method:`` value.
        mixing: None (no mixer), ``"full"`` (inputs and targets mixed) or ``"features_only"``
            (inputs mixed, the nearer example's label kept).
        params: the ``loss.*`` keys the method reads; the constructor receives their values.
        summary: one line for the documentation (the paper, what it does).
        paper: the reference (authors, venue, year) for the method table.
        passes: forward passes of the model per training step, for the method table.
        needs: what the method reads from a :class:`StepBatch` or the run besides logits and
            labels: ``"index"``, ``"features"``, ``"validation"`` (``after_validation`` each epoch).
        report_role: what ``textmix report`` compares it as: ``"reference"`` (the method every other
            is compared with: ERM), ``"mixup"`` (the paper's method: its α sweep gets the α figure)
            or None.
        mixes: what its plans can mix: ``"any"`` tensor at the mix point, or ``"sequences"`` only
            (token sequences (B, T, D), e.g. span-level mixing); checked at recipe load against
            the task's mix point (``Task.mix_point_kind``), not at the first step.
    """

    name: ClassVar[str]
    mixing: ClassVar[str | None] = None
    params: ClassVar[dict[str, Param]] = {}
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    passes: ClassVar[str] = "1"
    needs: ClassVar[frozenset[str]] = frozenset()
    mixes: ClassVar[str] = "any"
    report_role: ClassVar[str | None] = None

    def __init__(self, **values):
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise RecipeError(f"method {self.name} takes {sorted(self.params) or 'no settings'}, got {unknown}")
        for key, param in self.params.items():
            value = values.get(key, param.default)
            if not param.valid(value):
                raise RecipeError(f"loss.{key}={value!r} is invalid: must be {param.expected}")
            setattr(self, key, value)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of (B, K) logits against (B, K) probability targets."""
        return soft_target_cross_entropy(logits, targets)

    def step_loss(self, batch: StepBatch) -> torch.Tensor:
        """The loss of one training batch: one pass under the batch's plan."""
        return self.loss(batch.forward(batch.plan), batch.targets(batch.plan))

    def make_mixer(self, alpha: float, per_sample: bool, sites: int, seed: int) -> Mixup | None:
        """The mixer of this method (None when it does not mix), seeded for one process."""
        if self.mixing is None:
            return None
        return Mixup(alpha, per_sample, self.mixing, sites, generator=torch.Generator().manual_seed(seed))

    @classmethod
    def recipe_checks(cls, loss: Any, train: Any, mixup: Any) -> list[tuple[bool, str, str]]:
        """(ok, key, expected) checks of the method's settings against the recipe's ``train`` and
        ``mixup`` sections (e.g. epochs, α), beyond each ``loss.*`` key's own range: what would
        otherwise fail mid-run."""
        return []

    # hooks of methods that learn while they train (see the module docstring); no-ops by default
    def prepare(self, num_examples: int, num_classes: int) -> None:
        """Allocate per-example or per-class state for a training split of ``num_examples``."""

    def start_epoch(self, epoch: int) -> None:
        """Called before the batches of epoch ``epoch`` (0-based), also when a run resumes in it."""

    def synchronize(self, reduce: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Combine what each process recorded; ``reduce`` sums a tensor over processes."""

    def after_validation(self, probs: np.ndarray, labels: np.ndarray) -> None:
        """Called with the validation probabilities (N, K) and labels (N,) after each epoch."""

    # per-run state (e.g. per-example statistics across epochs) for checkpoints; none by default
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The method's running state (tensors and numbers) for a resume; empty for stateless methods."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict` output (a checkpoint's method state, which is input): the same
        keys and shapes as this run's state, finite numbers, whole non-negative counts, flags of 0
        or 1; ValueError naming the key otherwise. Each key is the attribute it restores."""
        current = self.state_dict()
        if set(state) != set(current):
            raise ValueError(f"method {self.name} keeps {sorted(current) or 'no state'}, got {sorted(state)}")
        for key, now in current.items():
            value, said = state[key], f"method {self.name} state {key!r}"
            if value.shape != now.shape:
                raise ValueError(f"{said} has shape {tuple(value.shape)}; this run needs {tuple(now.shape)}")
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise ValueError(f"{said} holds NaN or infinite values")
            if now.dtype == torch.bool and not ((value == 0) | (value == 1)).all():
                raise ValueError(f"{said} must hold flags of 0 or 1")
            if (
                not now.is_floating_point()
                and now.dtype != torch.bool
                and ((value < 0) | (value != value.round())).any()
            ):
                raise ValueError(f"{said} must hold whole counts >= 0")
        for key, now in current.items():
            setattr(self, key, state[key].to(now.dtype).clone())


def head_features(model: torch.nn.Module, run: Callable[[], object]) -> torch.Tensor:
    """(B, D) input of ``model``'s last linear layer during ``run()`` (a forward of the clean
    batch), in eval mode and without gradients: the space whose distances kernel mixup reads."""
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not head:
        raise ValueError(f"{type(model).__name__} has no linear layer whose input could serve as features")
    captured = []
    handle = head[-1].register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            run()
    finally:
        handle.remove()
        model.train(training)
    return captured[-1].flatten(1)


MIXES = ("any", "sequences")  # what a method's plans can mix (Method.mixes)


def _check_method(name: str, cls: type[Method]) -> None:
    """What a method class must declare before the engine can rely on it."""
    if not cls.needs <= {"index", "features", "validation"}:
        raise ValueError(f"{cls.__name__}.needs may hold index, features and validation, got {sorted(cls.needs)}")
    if cls.mixes not in MIXES:
        raise ValueError(f"{cls.__name__}.mixes must be one of {MIXES}, got {cls.mixes!r}")
    if cls.mixing not in (None, "full", "features_only"):
        raise ValueError(f"{cls.__name__}.mixing must be None, 'full' or 'features_only', got {cls.mixing!r}")
    for key, param in cls.params.items():
        for other in METHODS.values():
            if other is not cls and key in other.params and other.params[key].default != param.default:
                raise ValueError(f"loss.{key} of {cls.name} clashes with the one of method {other.name}")


METHODS: Registry[type[Method]] = Registry("method", check=_check_method)


def register_method(cls: type[Method]) -> type[Method]:
    """Make ``method: <cls.name>`` recipes (and ``MixupTrainer(method=...)``) use ``cls``.

    Its ``params`` become ``loss.*`` recipe keys; a key another method declares must mean the same
    (same default), so two methods can share one. Usable as a class decorator.
    """
    return METHODS.register(cls)


def method_names() -> tuple[str, ...]:
    return METHODS.names()


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)


def method_params() -> dict[str, Param]:
    """Every ``loss.*`` key of the registered methods, in registration order."""
    return {key: param for cls in METHODS.values() for key, param in cls.params.items()}


def build_method(name: str, loss_settings: Any) -> Method:
    """The method ``name`` with its keys read from a ``loss`` section (an object with attributes)."""
    cls = get_method(name)
    return cls(**{key: getattr(loss_settings, key) for key in cls.params})


@functools.lru_cache(maxsize=1)
def loss_section() -> type:
    """The recipe's ``loss`` section: a dataclass of every registered method's params."""
    params = method_params()
    fields = [(key, type(p.default), dataclasses.field(default=p.default)) for key, p in params.items()]
    doc = "Args:\n" + "".join(f"{key}: {p.doc}\n" for key, p in params.items())
    cls = dataclasses.make_dataclass("LossConfig", fields)
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


METHODS.on_change(loss_section.cache_clear)


def describe_methods(names: tuple[str, ...] | None = None) -> str:
    """``name (summary), ...`` of the methods ``names`` (default: every registered one)."""
    classes = [METHODS.get(n) for n in names] if names is not None else METHODS.values()
    return ", ".join(f"{cls.name} ({cls.summary})" if cls.summary else cls.name for cls in classes)
