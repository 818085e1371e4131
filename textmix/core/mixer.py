"""Mixup for any tensor: word embeddings, hidden states, pooled vectors or pixels.

A :class:`Mixup` draws a :class:`MixupPlan` (λ and a pairing permutation) once per batch; the model
applies the plan at its *mix point* and the loss uses the plan's targets, so inputs and targets
always share one permutation.

    mixer = Mixup(alpha=0.4, generator=torch.Generator().manual_seed(0))
    plan = mixer.plan(batch_size)                 # λ ~ Beta(α, α), perm = randperm(B)
    h = plan.mix(h)                               # (B, T, D) or (B, C, H, W) or (B, D)
    mask = plan.mix_mask(mask)                    # union of the two padding masks
    targets = plan.mix_targets(labels, num_classes)   # λ·y_i + (1−λ)·y_j

Batch size 1 pairs the example with itself (the plan is an identity). Odd batch sizes are fine:
pairing is a permutation, not a split of the batch into halves. A random permutation may map an
example to itself; that example is then left unmixed, as in Zhang et al.'s reference code.

Only torch is imported here so that ``vision`` can use it without text dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textmix.core.transfer import to_device

MIX_MODES = ("full", "features_only")
HIDDEN = "hidden:K"  # in a model's mix points: the output of any layer K


@dataclass(frozen=True)
class MixPoint:
    """Where a model mixes: a named point (``embeddings``, ``pooled``, ``input``, ``manifold``...) or
    ``hidden:K``, the output of layer K.

    Args:
        kind: the point's name (``hidden`` for ``hidden:K``).
        layer: K of ``hidden:K`` (None otherwise).
    """

    kind: str
    layer: int | None = None

    @classmethod
    def parse(cls, text: str, points: tuple[str, ...], layers: int | None = None) -> MixPoint:
        """``text`` as one of a model's ``points`` (names, and ``hidden:K`` for any layer K); with
        ``layers``, K must be in [1, layers]. ValueError naming the valid points otherwise."""
        kind, sep, layer = str(text).partition(":")
        if not sep and kind in points and kind != HIDDEN:
            return cls(kind)
        if kind == "hidden" and HIDDEN in points and layer.isdigit():
            if layers is None or 1 <= int(layer) <= layers:
                return cls(kind, int(layer))
            raise ValueError(f"mixup.mix_point={text!r}: K must be an integer in [1, {layers}] for this model")
        raise ValueError(f"mixup.mix_point={text!r} is not a mix point of this model; use {', '.join(points)}")


def one_hot_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Hard labels (B,) → float one-hot (B, K); already-soft (B, K) targets pass through.

    Args:
        labels: int64 class ids of shape (B,), or a float tensor of shape (B, K) whose rows are
            probability vectors.
        num_classes: K.
    """
    if labels.dim() == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(f"soft targets have {labels.shape[1]} columns but num_classes={num_classes}")
        return labels.float()
    if labels.dim() != 1:
        raise ValueError(f"labels must have shape (B,) or (B, K), got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point:
        raise TypeError(f"hard labels must be an integer tensor, got dtype {labels.dtype}")
    return F.one_hot(labels.long(), num_classes).float()


@dataclass
class MixupPlan:
    """One batch's mixing decision: ``x̃ = λ·x + (1−λ)·x[perm]``.

    Args:
        lam: mixing weight of the example itself, a 0-d tensor (per-batch λ) or shape (B,)
            (per-sample λ). Values in [0, 1].
        perm: int64 permutation of range(B): example ``i`` is mixed with example ``perm[i]``.
        mode: ``"full"`` mixes the targets with the same λ; ``"features_only"`` mixes the
            features but keeps the hard label of the nearer example (λ >= 0.5 → y_i, else
            y_perm[i]; a tie at exactly 0.5 keeps y_i).
        site: where a model with several mix points mixes this batch (0 = its input; manifold
            mixup draws it per batch). Models with one mix point ignore it.
    """

    lam: torch.Tensor
    perm: torch.Tensor
    mode: str = "full"
    site: int = 0

    def __post_init__(self):
        if self.mode not in MIX_MODES:
            raise ValueError(f"mode must be one of {MIX_MODES}, got {self.mode!r}")
        if self.perm.dim() != 1:
            raise ValueError(f"perm must have shape (B,), got {tuple(self.perm.shape)}")
        if self.lam.dim() not in (0, 1) or (self.lam.dim() == 1 and len(self.lam) != len(self.perm)):
            raise ValueError(f"lam must be a scalar or have shape ({len(self.perm)},), got {tuple(self.lam.shape)}")

    @property
    def batch_size(self) -> int:
        """B, the examples the plan mixes."""
        return len(self.perm)

    def _lam_for(self, x: torch.Tensor) -> torch.Tensor:
        """λ shaped to broadcast over x: () stays (), (B,) becomes (B, 1, ..., 1)."""
        lam = self.lam.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
        if lam.dim() == 1:
            lam = lam.view(-1, *([1] * (x.dim() - 1)))
        return lam

    def _check_batch(self, x: torch.Tensor, what: str) -> None:
        if x.shape[0] != self.batch_size:
            raise ValueError(f"{what} has batch size {x.shape[0]} but the plan was drawn for {self.batch_size}")

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """Mix features of any shape (B, ...). Zero positions in both inputs stay zero."""
        self._check_batch(x, "input")
        if not x.is_floating_point():
            raise TypeError(f"mix expects floating-point features, got dtype {x.dtype}")
        lam = self._lam_for(x)
        return lam * x + (1.0 - lam) * x[self.perm.to(x.device)]

    def mix_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Union (logical OR) of each example's padding mask with its partner's: (B, T) → (B, T).

        A position is attended to if it holds a real token in either example, so nothing of the
        longer sequence is dropped; the dtype of the input mask is kept.
        """
        self._check_batch(mask, "mask")
        real = mask.bool()
        return (real | real[self.perm.to(mask.device)]).to(mask.dtype)

    def mix_targets(self, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Targets (B, K) for this plan from hard labels (B,) or soft targets (B, K)."""
        self._check_batch(labels, "labels")
        y = one_hot_targets(labels, num_classes)  # (B, K)
        y_partner = y[self.perm.to(y.device)]
        lam = self._lam_for(y)
        if self.mode == "features_only":
            keep_own = lam >= 0.5
            return torch.where(keep_own, y, y_partner)
        return lam * y + (1.0 - lam) * y_partner

    @classmethod
    def identity(cls, batch_size: int, device: torch.device | str | None = None) -> MixupPlan:
        """A plan that leaves every example and target unchanged (λ = 1, perm = identity)."""
        return cls(lam=torch.tensor(1.0, device=device), perm=torch.arange(batch_size, device=device))


class Mixup:
    """Draws :class:`MixupPlan` s with λ ~ Beta(α, α) and a random pairing permutation.

    Args:
        alpha: Beta(α, α) concentration. ``0`` disables mixing (λ = 1 always). Must be >= 0.
        per_sample: draw one λ per example (shape (B,)) instead of one per batch (the paper's
            default, shape ()).
        mode: ``"full"`` (features and labels) or ``"features_only"`` (features mixed, hard
            label of the nearer example kept; the paper's Section 5 ablation).
        sites: number of mix points to choose from; each plan draws its ``site`` uniformly from
            ``range(sites)`` (manifold mixup, Verma et al. 2019). 1: always site 0.
        generator: the ``torch.Generator`` all randomness comes from (CPU). Give each
            distributed rank its own seed so that ranks draw different λ and permutations.
    """

    def __init__(
        self,
        alpha: float,
        per_sample: bool = False,
        mode: str = "full",
        sites: int = 1,
        generator: torch.Generator | None = None,
    ):
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise TypeError(f"alpha must be a number, got {alpha!r}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0 (0 disables mixing), got {alpha}")
        if mode not in MIX_MODES:
            raise ValueError(f"mode must be one of {MIX_MODES}, got {mode!r}")
        if not isinstance(sites, int) or sites < 1:
            raise ValueError(f"sites must be an integer >= 1, got {sites!r}")
        self.sites = sites
        self.alpha = float(alpha)
        self.per_sample = per_sample
        self.mode = mode
        self.generator = generator if generator is not None else torch.Generator()

    def sample_lam(self, batch_size: int) -> torch.Tensor:
        """λ ~ Beta(α, α): shape () per batch or (B,) per sample; exactly 1 when α = 0."""
        shape = (batch_size,) if self.per_sample else ()
        if self.alpha == 0:
            return torch.ones(shape)
        # torch's Beta sampler takes no generator: seed the CPU generator from ours for one draw
        # and restore it, so the draw is reproducible and the caller's RNG (dropout, shuffling)
        # is untouched. This is Beta(α, α).sample() = Dirichlet([α, α]).sample()[..., 0] without
        # the distribution objects and without torch.manual_seed (which also seeds every GPU):
        # the same values, about 17× faster (bench/mixup_overhead.py prints both timings).
        seed = int(torch.randint(0, 2**62, (), generator=self.generator))
        state = torch.get_rng_state()
        try:
            torch.default_generator.manual_seed(seed)
            conc = torch.full(shape, self.alpha)
            return torch._sample_dirichlet(torch.stack([conc, conc], dim=-1)).select(-1, 0)
        finally:
            torch.set_rng_state(state)

    def plan(self, batch_size: int, device: torch.device | str | None = None) -> MixupPlan:
        """Draw λ and a pairing permutation for a batch of ``batch_size`` examples."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        lam = self.sample_lam(batch_size)
        perm = torch.randperm(batch_size, generator=self.generator)
        # drawn only when there is a choice, so single-site plans keep their random stream
        site = int(torch.randint(self.sites, (), generator=self.generator)) if self.sites > 1 else 0
        # drawn on the host (reproducible on any device), queued to the device without a sync
        return MixupPlan(lam=to_device(lam, device), perm=to_device(perm, device), mode=self.mode, site=site)

    def state_dict(self) -> dict:
        """The sampler's random state, for an exact resume."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the random state saved by :meth:`state_dict`."""
        self.generator.set_state(state["generator"])
