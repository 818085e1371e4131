"""Calibration figures drawn on matplotlib ``Figure`` objects (no pyplot global state).

Each function returns a ``Figure``; :func:`save_figure` writes it to PNG atomically.
Imports numpy, matplotlib, :mod:`textmix.core.metrics` and :mod:`textmix.core.noise_floor` only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from textmix.core.atomic_files import temporary_path
from textmix.core.metrics import adaptive_calibration_error, check_probs_labels, equal_mass_bins, reliability_bins
from textmix.core.noise_floor import consistency_band


def _lowest_confidence(probs) -> float:
    """Where the confidence axis starts: a winning probability of K classes is at least 1/K, so the
    empty part (half of a binary diagram) is cropped."""
    return 1 / np.shape(probs)[1]


def draw_reliability(ax: Axes, probs, labels, n_bins: int = 15, title: str = "") -> None:
    """Accuracy against *mean bin confidence* per bin, bar width = bin width, counts annotated."""
    bins = reliability_bins(probs, labels, n_bins)
    filled = bins.count > 0
    left = bins.edges[:-1]
    width = np.diff(bins.edges)
    ax.bar(
        left[filled],
        bins.accuracy[filled],
        width=width[filled],
        align="edge",
        edgecolor="black",
        color="tab:blue",
        alpha=0.8,
        label="accuracy",
    )
    ax.bar(
        left[filled],
        (bins.confidence - bins.accuracy)[filled],
        bottom=bins.accuracy[filled],
        width=width[filled],
        align="edge",
        color="tab:red",
        alpha=0.3,
        hatch="//",
        label="gap to mean confidence",
    )
    ax.plot(bins.confidence[filled], bins.accuracy[filled], "o", color="black", ms=3)
    ax.plot([0, 1], [0, 1], "--", color="gray")
    # what a perfectly calibrated model with these confidences shows per bin, 95% of the time
    conf = check_probs_labels(probs, labels)[0].max(dim=1).values.double().numpy()
    low, high = consistency_band(conf, n_bins)
    ax.errorbar(bins.confidence[filled], (low[filled] + high[filled]) / 2, yerr=(high[filled] - low[filled]) / 2,
                fmt="none", ecolor="tab:green", elinewidth=2, alpha=0.8, capsize=2,
                label="95% band if calibrated")  # fmt: skip
    # counts upright at the foot of each bar: never on the gap bar, never across a neighbour's count
    for x, w, n in zip(left[filled], width[filled], bins.count[filled]):
        ax.text(x + w / 2, 0.015, str(int(n)), ha="center", va="bottom", rotation=90, fontsize=6)
    ax.set_xlim(_lowest_confidence(probs), 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (winning probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}  ECE={bins.ece:.3f}  OE={bins.oe:.3f}".strip())
    ax.legend(loc="upper left", fontsize=7)


def draw_adaptive_reliability(ax: Axes, probs, labels, n_bins: int = 15, title: str = "") -> None:
    """Reliability over equal-mass bins (each holds about N / n_bins examples): accuracy against mean
    confidence per bin, with the adaptive ECE."""
    p, y = check_probs_labels(probs, labels)
    conf, pred = p.max(dim=1)
    conf, correct = conf.double().numpy(), (pred == y).double().numpy()
    index = equal_mass_bins(conf, n_bins)
    size = np.bincount(index, minlength=n_bins)
    filled = size > 0  # tied confidences share a bin: some bins may stay empty
    mean_conf = (np.bincount(index, conf, n_bins) / np.maximum(size, 1))[filled]
    accuracy = (np.bincount(index, correct, n_bins) / np.maximum(size, 1))[filled]
    ax.plot([0, 1], [0, 1], "--", color="gray")
    ax.plot(mean_conf, accuracy, "o-", color="tab:blue", ms=4, label="equal-mass bins")
    ax.set_xlim(_lowest_confidence(probs), 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence of the bin")
    ax.set_ylabel("accuracy")
    ace = adaptive_calibration_error(p, y, n_bins)
    ax.set_title(f"{title}  adaptive ECE={ace:.3f}".strip())
    ax.legend(loc="upper left", fontsize=7)


def reliability_diagram(probs, labels, n_bins: int = 15, title: str = "") -> Figure:
    """Reliability diagram with a confidence histogram underneath."""
    fig = Figure(figsize=(4.5, 6))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]})
    draw_reliability(top, probs, labels, n_bins, title)
    draw_confidence_histogram(bottom, probs, labels, n_bins)
    fig.tight_layout()
    return fig


def draw_confidence_histogram(ax: Axes, probs, labels, n_bins: int = 15) -> None:
    """Share of examples per confidence bin, with mean accuracy and confidence marked."""
    p, y = check_probs_labels(probs, labels)
    conf, pred = p.max(dim=1)
    ax.hist(
        conf.numpy(),
        bins=np.linspace(0, 1, n_bins + 1),
        color="tab:gray",
        weights=np.full(len(conf), 1 / len(conf)),
        edgecolor="black",
    )
    accuracy = float((pred == y).double().mean())
    ax.axvline(accuracy, color="tab:blue", ls="--", label="accuracy")
    ax.axvline(float(conf.mean()), color="tab:red", ls="--", label="mean confidence")
    ax.set_xlim(min(_lowest_confidence(probs), accuracy), 1)  # a worse-than-chance accuracy stays in view
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of examples")
    ax.legend(fontsize=7)


def confidence_histogram(probs, labels, n_bins: int = 15) -> Figure:
    """The confidence histogram alone, as a figure."""
    fig = Figure(figsize=(4.5, 2.8))
    FigureCanvasAgg(fig)
    draw_confidence_histogram(fig.subplots(), probs, labels, n_bins)
    fig.tight_layout()
    return fig


def draw_joint_density(ax: Axes, confidences, accuracies, title: str = "", bins: int = 20):
    """2-D histogram of confidence against accuracy (per example or per batch) on ``ax``; returns
    the image for a colorbar."""
    h = ax.hist2d(np.asarray(confidences), np.asarray(accuracies), bins=bins, range=[[0, 1], [0, 1]], cmap="viridis")
    ax.plot([0, 1], [0, 1], "--", color="white")
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    return h[3]


def joint_density(confidences, accuracies, title: str = "", bins: int = 20) -> Figure:
    """Confidence-accuracy joint density as a figure (paper Figure 1)."""
    fig = Figure(figsize=(4.5, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.colorbar(draw_joint_density(ax, confidences, accuracies, title, bins), ax=ax, label="count")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    fig.savefig(tmp, format="png", dpi=dpi)
    os.replace(tmp, path)
    return path
