"""Calibration metrics: reliability bins, ECE, MCE, OE, adaptive, debiased, smooth and classwise ECE,
NLL, Brier, AUROC.

All metrics are *top-label*: the confidence of a prediction is its winning probability
max_k p_k, for binary tasks too (K = 2), as in Guo et al. (2017) and Thulasidasan et al. (2019).

Binning (identical to torchmetrics): ``n_bins`` equal-width bins over [0, 1]; bin m holds
confidences in [m/M, (m+1)/M), and the last bin also holds confidence exactly 1.0.

Every metric depends on the multiset of (probabilities, label) rows only, never on their order
(ties included); values agree across row orders up to floating-point summation order.

Inputs are probabilities (N, K) and integer labels (N,), as torch tensors or numpy arrays.
Imports torch, numpy and sklearn only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textmix.core.errors import ArgumentError
from textmix.core.metric_table import METRICS
from textmix.core.selective import selective_report
from textmix.core.smooth_ece import smooth_ece

PROB_SUM_TOLERANCE = 1e-3


def _as_tensor(x, name: str, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))  # a reversed view has negative strides
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    return x.detach().to(device="cpu", dtype=dtype)


def check_probabilities(p: torch.Tensor, what: str = "probs", fix: str = "apply softmax first") -> None:
    """Refuse a (N, K) tensor that is not a matrix of probability rows, naming the first bad row.

    Args:
        what: how the message names the matrix.
        fix: what the message advises when the rows look like logits.
    """
    low, high = torch.aminmax(p)
    if not (torch.isfinite(low) and torch.isfinite(high)):
        row = int((~torch.isfinite(p)).any(dim=1).nonzero()[0])
        raise ArgumentError(f"{what} has NaN or infinite values (row {row + 1} of {len(p)}); fix or drop those rows")
    if low < 0 or high > 1:
        row = int(((p < 0) | (p > 1)).any(dim=1).nonzero()[0])
        raise ArgumentError(f"{what} are not probabilities (row {row + 1} has {p[row, :6].tolist()}); did you pass "
                            f"logits? {fix}")  # fmt: skip
    deviation = (p.sum(dim=1, dtype=torch.float64) - 1).abs()
    if deviation.max() > PROB_SUM_TOLERANCE:
        row = int(deviation.argmax())
        raise ArgumentError(
            f"{what}: rows must sum to 1 (row {row + 1} sums to {float(p[row].sum()):.4g}); if these are logits "
            f"or unnormalized scores, {fix}"
        )


def check_labels(y: torch.Tensor, n: int, k: int, what: str = "probs") -> None:
    """Refuse labels that are not (n,) integers in 0..k-1, naming the first bad one."""
    if y.dim() != 1:
        raise ArgumentError(f"labels must have shape (N,), got {tuple(y.shape)}")
    if len(y) != n:
        raise ArgumentError(f"{what} has {n} rows but labels has {len(y)} entries")
    bad = ((y < 0) | (y >= k)).nonzero()
    if len(bad):
        row = int(bad[0])
        raise ArgumentError(
            f"label {int(y[row])} at row {row + 1} of {what} is outside 0..{k - 1}: labels must be in [0, {k - 1}] "
            f"for K={k} classes"
        )


def check_probs_labels(probs, labels, what: str = "probs", fix: str = "apply softmax first"):
    """Validate (probs (N, K), labels (N,)); return CPU tensors (float32/float64 probs, int64 labels).

    Probabilities keep their floating dtype (other floating types become float32), so a large
    float32 input is not copied; every metric accumulates in float64.
    """
    if isinstance(probs, np.ndarray):
        probs = torch.from_numpy(np.ascontiguousarray(probs))  # a reversed view has negative strides
    if not isinstance(probs, torch.Tensor):
        raise TypeError(f"probs must be a torch.Tensor or numpy.ndarray, got {type(probs).__name__}")
    p = probs.detach().cpu()
    if p.dtype not in (torch.float32, torch.float64):
        p = p.float()
    y = _as_tensor(labels, "labels", torch.int64)
    if p.dim() != 2:
        raise ArgumentError(f"{what} must have shape (N, K), got {tuple(p.shape)}")
    if p.shape[0] == 0:
        raise ArgumentError(f"{what} is empty (N = 0): nothing to evaluate")
    check_labels(y, p.shape[0], p.shape[1], what)
    check_probabilities(p, what, fix)
    return p, y


@dataclass
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram (length n_bins each; empty bins have count 0).

    Attributes:
        edges: (n_bins + 1,) bin edges over [0, 1].
        count: examples per bin.
        confidence: mean winning probability per bin (0 where empty).
        accuracy: fraction correct per bin (0 where empty).
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def weight(self) -> np.ndarray:
        """|B_m| / n: sums to 1."""
        return self.count / self.count.sum()

    @property
    def ece(self) -> float:
        return float((self.weight * np.abs(self.accuracy - self.confidence)).sum())

    @property
    def oe(self) -> float:
        gap = np.maximum(self.confidence - self.accuracy, 0.0)
        return float((self.weight * self.confidence * gap).sum())

    @property
    def mce(self) -> float:
        return float(np.abs(self.accuracy - self.confidence)[self.count > 0].max())


def _confidence_correct(p: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    conf, pred = p.max(dim=1)  # (N,), (N,)
    return conf.double(), (pred == y).double()


def _bin_stats(conf: torch.Tensor, correct: torch.Tensor, n_bins: int) -> ReliabilityBins:
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype)
    index = (torch.bucketize(conf, edges, right=True) - 1).clamp(0, n_bins - 1)  # (N,)
    count = torch.bincount(index, minlength=n_bins).to(conf.dtype)
    conf_sum = torch.bincount(index, weights=conf, minlength=n_bins)
    correct_sum = torch.bincount(index, weights=correct, minlength=n_bins)
    safe = count.clamp(min=1)
    return ReliabilityBins(
        edges=edges.numpy(),
        count=count.numpy(),
        confidence=(conf_sum / safe).numpy(),
        accuracy=(correct_sum / safe).numpy(),
    )


def reliability_bins(probs, labels, n_bins: int = 15) -> ReliabilityBins:
    """Top-label reliability bins of probabilities (N, K) against labels (N,)."""
    p, y = check_probs_labels(probs, labels)
    return _bin_stats(*_confidence_correct(p, y), n_bins)


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE = Σ_m |B_m|/n · |acc(B_m) − conf(B_m)| over non-empty bins."""
    return reliability_bins(probs, labels, n_bins).ece


def overconfidence_error(probs, labels, n_bins: int = 15) -> float:
    """OE = Σ_m |B_m|/n · conf(B_m) · max(conf(B_m) − acc(B_m), 0) (Thulasidasan et al. 2019)."""
    return reliability_bins(probs, labels, n_bins).oe


def maximum_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """MCE = max over non-empty bins of |acc(B_m) − conf(B_m)|."""
    return reliability_bins(probs, labels, n_bins).mce


def adaptive_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Adaptive ECE (Nixon et al. 2019): ECE over equal-mass bins (:func:`equal_mass_bins`)."""
    p, y = check_probs_labels(probs, labels)
    return _adaptive_ece(*_confidence_correct(p, y), n_bins)


def equal_mass_bins(conf, n_bins: int) -> np.ndarray:
    """The equal-mass bin (0 .. n_bins − 1) of each confidence (N,): the sorted confidences cut into
    ``min(n_bins, N)`` runs whose sizes differ by at most one (the earlier runs hold the extra
    examples), each bin holding the values up to its run's last one.

    Tied confidences always share a bin (one that straddles a cut joins the lower bin, which then
    holds more than N / n_bins and a later bin fewer or none), so the bins, and every metric over
    them, do not depend on the row order.
    """
    conf = np.asarray(conf, dtype=np.float64)
    ranked = np.sort(conf)
    cuts = np.cumsum([len(part) for part in np.array_split(ranked, min(n_bins, len(ranked)))])  # run ends
    return np.searchsorted(ranked[cuts[:-1] - 1], conf, side="left")  # (N,)


def _adaptive_ece(conf: torch.Tensor, correct: torch.Tensor, n_bins: int) -> float:
    index = equal_mass_bins(conf.numpy(), n_bins)
    gaps = np.bincount(index, weights=correct.numpy() - conf.numpy(), minlength=n_bins)  # |B|·(acc − conf)
    return float(np.abs(gaps).sum() / len(conf))


def _debiased_ece(conf: torch.Tensor, correct: torch.Tensor, n_bins: int) -> float:
    conf, correct = conf.numpy(), correct.numpy()
    index = equal_mass_bins(conf, n_bins)
    sums = (np.bincount(index, weights=w, minlength=n_bins) for w in (np.ones_like(conf), conf, correct))
    size, conf_sum, hits = sums
    return float(debiased_from_sums(size, conf_sum, hits[None])[0])


def debiased_from_sums(size: np.ndarray, conf_sum: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Debiased L2 ECE (Kumar, Liang & Ma, NeurIPS 2019, eq. 5) from per-bin sums: bin sizes (M,),
    confidence sums (M,) and correct counts of D label draws (D, M) → (D,):
    sqrt(max(0, Σ_b |B|/n · [(acc_b − conf_b)² − acc_b (1 − acc_b) / (|B| − 1)])), bins of fewer
    than two examples contributing 0: the plug-in squared gap minus its sampling variance."""
    safe = np.maximum(size, 1)
    acc = hits / safe
    square = (acc - conf_sum / safe) ** 2 - acc * (1 - acc) / np.maximum(size - 1, 1)
    square = np.where(size > 1, square, 0.0)
    return np.sqrt(np.maximum((square * size).sum(axis=1) / size.sum(), 0.0))


def debiased_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Debiased top-label L2 ECE (Kumar, Liang & Ma, "Verified Uncertainty Calibration", NeurIPS
    2019; the estimator of the ``uncertainty-calibration`` package's ``lower_bound_scaling_ce(...,
    p=2, debias=True, mode="top-label")``), over the order-free equal-mass bins.

    Example::

        >>> debiased_calibration_error(np.array([[0.9, 0.1]] * 100), np.array([0] * 90 + [1] * 10))
        0.0
    """
    p, y = check_probs_labels(probs, labels)
    return _debiased_ece(*_confidence_correct(p, y), n_bins)


def classwise_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """Classwise ECE (Kull et al. 2019): for every class k, the equal-width-binned ECE of p_k against
    1[y = k] over all examples, averaged over the K classes."""
    p, y = check_probs_labels(probs, labels)
    return _classwise_ece(p.double(), y, n_bins)


def _classwise_ece(p: torch.Tensor, y: torch.Tensor, n_bins: int) -> float:
    n, k = p.shape
    index = (torch.bucketize(p, torch.linspace(0, 1, n_bins + 1, dtype=p.dtype), right=True) - 1).clamp(0, n_bins - 1)
    flat = (index + n_bins * torch.arange(k)).flatten()  # (N·K,) bin of each (example, class)
    hits = (y[:, None] == torch.arange(k)).double().flatten()
    conf_sum = torch.bincount(flat, weights=p.flatten(), minlength=n_bins * k)
    hit_sum = torch.bincount(flat, weights=hits, minlength=n_bins * k)
    return float((conf_sum - hit_sum).abs().sum() / (n * k))


def _nll(p: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> float:
    return float(-p.gather(1, y[:, None]).double().clamp(min=eps).log().mean())


def _brier(p: torch.Tensor, y: torch.Tensor) -> float:
    # Σ_k (p_k − 1[k = y])² = Σ_k p_k² − 2 p_y + 1, without materializing the one-hot matrix
    squares = torch.linalg.vector_norm(p, dim=1, dtype=torch.float64) ** 2
    return float((squares - 2 * p.gather(1, y[:, None]).squeeze(1).double() + 1).mean())


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return torch.special.entr(p).sum(dim=1, dtype=torch.float64)


def negative_log_likelihood(probs, labels, eps: float = 1e-12) -> float:
    """Mean −log p_y, with p clamped at ``eps`` so a zero probability gives a finite value."""
    return _nll(*check_probs_labels(probs, labels), eps)


def brier_score(probs, labels) -> float:
    """Multi-class Brier score: mean over examples of Σ_k (p_k − 1[k = y])², in [0, 2]."""
    return _brier(*check_probs_labels(probs, labels))


def entropy(probs) -> np.ndarray:
    """Predictive entropy of each row of probs (N, K), in nats: (N,)."""
    p = _as_tensor(probs, "probs", torch.float64)
    return _entropy(p).numpy()


def calibration_report(probs, labels, n_bins: int = 15) -> dict[str, float]:
    """Every scalar metric of a split, as stored in ``metrics.json``.

    Keys: accuracy, ece, oe, mce, nll, brier, mean_confidence, mean_entropy, n, then
    adaptive_ece, debiased_ece (:func:`debiased_calibration_error`), smooth_ece
    (:func:`textmix.core.smooth_ece.smooth_ece`), classwise_ece and the selective-prediction metrics of
    the winning score (:func:`textmix.core.selective.selective_report`: aurc, eaurc, accuracy_at_80, accuracy_at_90),
    then every metric registered with a ``compute`` (:mod:`textmix.core.metric_table`).
    """
    p, y = check_probs_labels(probs, labels)
    conf, correct = _confidence_correct(p, y)
    bins = _bin_stats(conf, correct, n_bins)
    return {
        "accuracy": float(correct.mean()),
        "ece": bins.ece,
        "oe": bins.oe,
        "mce": bins.mce,
        "nll": _nll(p, y),
        "brier": _brier(p, y),
        "mean_confidence": float(conf.mean()),
        "mean_entropy": float(_entropy(p).mean()),
        "n": int(p.shape[0]),
        "adaptive_ece": _adaptive_ece(conf, correct, n_bins),
        "debiased_ece": _debiased_ece(conf, correct, n_bins),
        "smooth_ece": smooth_ece(conf.numpy(), correct.numpy()),
        "classwise_ece": _classwise_ece(p.double(), y, n_bins),
        **selective_report(conf.numpy(), correct.numpy().astype(bool)),
        # metrics a program registered (textmix.core.metric_table): computed on float64 arrays
        **{m.name: float(m.compute(p.double().numpy(), y.numpy(), n_bins)) for m in METRICS.values() if m.compute},
    }


def ood_auroc(in_distribution_scores, out_of_distribution_scores) -> float:
    """AUROC of telling in- from out-of-distribution inputs by a score (higher = in-distribution).

    With winning scores (max_k p_k) this is the paper's Section 7 detection metric; 0.5 is chance.
    """
    from sklearn.metrics import roc_auc_score

    s_in = np.asarray(in_distribution_scores, dtype=np.float64).ravel()
    s_out = np.asarray(out_of_distribution_scores, dtype=np.float64).ravel()
    if len(s_in) == 0 or len(s_out) == 0:
        raise ValueError(f"need in- and out-of-distribution scores, got {len(s_in)} and {len(s_out)}")
    y = np.concatenate([np.ones(len(s_in)), np.zeros(len(s_out))])
    return float(roc_auc_score(y, np.concatenate([s_in, s_out])))
