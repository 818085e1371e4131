"""Evaluation of a model on a split: gathered logits, calibration metrics, post-hoc methods, OOD."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import set_seed

from textmix.bootstrap import bootstrap_intervals
from textmix.calibration import apply_temperature, calibration_report, entropy, fit_temperature, ood_auroc
from textmix.engine.rundir import RunDir
from textmix.engine.tasks import TaskData
from textmix.errors import RecipeError
from textmix.io import atomic_save_npz
from textmix.plots import reliability_diagram, save_figure


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    loader,
    accelerator: Accelerator,
    n: int,
    inputs_fn: Callable[[dict], dict],
    mc_dropout: bool = False,
) -> np.ndarray:
    """Logits (N, K) of every example of a prepared loader, in dataset order, on every rank.

    Per-example results are collected with ``gather_for_metrics`` (which drops the samples
    accelerate duplicates to even out the last batch) and placed by their ``index``; the result
    is checked to hold each of the ``n`` examples exactly once.

    Args:
        mc_dropout: keep dropout layers stochastic (MC dropout); all other layers in eval mode.
    """
    model.eval()
    if mc_dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.train()
    indices, outputs = [], []
    for batch in loader:
        logits = model(**inputs_fn(batch)).float()
        index, logits = accelerator.gather_for_metrics((batch["index"], logits))
        indices.append(index.cpu())
        outputs.append(logits.cpu())
    model.eval()
    index = torch.cat(indices).numpy()
    logits = torch.cat(outputs).numpy()
    if len(index) != n or len(np.unique(index)) != n:
        raise RuntimeError(
            f"evaluation gathered {len(index)} predictions ({len(np.unique(index))} distinct) "
            f"for a split of {n} examples"
        )
    out = np.empty_like(logits)
    out[index] = logits
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()


def mc_dropout_probs(model, loader, accelerator, n: int, samples: int, inputs_fn) -> np.ndarray:
    """Mean softmax over ``samples`` stochastic passes (Gal & Ghahramani 2016)."""
    total = None
    for _ in range(samples):
        probs = softmax(predict_logits(model, loader, accelerator, n, inputs_fn, mc_dropout=True))
        total = probs if total is None else total + probs
    return total / samples


def post_hoc_report(
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    test_logits: np.ndarray,
    test_labels: np.ndarray,
    n_bins: int,
) -> dict:
    """Temperature scaling fitted on validation; metrics of both splits after scaling."""
    temperature = fit_temperature(val_logits, val_labels)
    return {
        "temperature": temperature,
        "val": calibration_report(apply_temperature(val_logits, temperature), val_labels, n_bins),
        "test": calibration_report(apply_temperature(test_logits, temperature), test_labels, n_bins),
    }


def winning_scores(probs: np.ndarray) -> np.ndarray:
    return probs.max(axis=1)


def ood_report(in_probs: dict[str, np.ndarray], out_probs: dict[str, np.ndarray]) -> dict:
    """AUROC per scoring method (baseline, temperature_scaled, mc_dropout) of in- vs out-of-distribution.

    Args:
        in_probs: method → in-distribution test probabilities (N, K).
        out_probs: method → out-of-distribution probabilities (M, K), same methods.
    """
    return {
        method: {
            "auroc": ood_auroc(winning_scores(in_probs[method]), winning_scores(out_probs[method])),
            "mean_winning_score_in": float(winning_scores(in_probs[method]).mean()),
            "mean_winning_score_out": float(winning_scores(out_probs[method]).mean()),
        }
        for method in in_probs
    }


def evaluate_model(recipe, accelerator, model, data: TaskData):
    """Every metric of a trained model: val / test, temperature scaling, MC dropout, OOD AUROC,
    perturbation away from the data.

    ``data.loaders`` must be prepared by ``accelerator``.

    Returns:
        (report dict, validation logits (N_val, K), test logits (N_test, K), winning scores:
        {"<set>/<scoring>": (N,)} for the test split ("test/...") and every OOD set).
    """
    bins, fn = recipe.eval.n_bins, data.inputs_fn
    test_loader, n, labels = data.loaders["test"], data.n, data.labels
    val_logits = predict_logits(model, data.loaders["validation"], accelerator, n["validation"], fn)
    test_logits = predict_logits(model, test_loader, accelerator, n["test"], fn)
    test_probs = softmax(test_logits)
    report = {
        "val": calibration_report(softmax(val_logits), labels["validation"], bins),
        "test": calibration_report(test_probs, labels["test"], bins),
    }
    scored = {"baseline": test_probs}
    if recipe.eval.temperature_scaling:
        post = post_hoc_report(val_logits, labels["validation"], test_logits, labels["test"], bins)
        report["temperature_scaled"] = post
        scored["temperature_scaled"] = softmax(test_logits / post["temperature"])
    samples = recipe.eval.mc_dropout_samples
    if samples:
        set_seed(recipe.train.seed)
        probs = mc_dropout_probs(model, test_loader, accelerator, n["test"], samples, fn)
        report["mc_dropout"] = {"samples": samples, "test": calibration_report(probs, labels["test"], bins)}
        scored["mc_dropout"] = probs
    scores = {f"test/{method}": winning_scores(probs) for method, probs in scored.items()}
    if recipe.eval.ood:
        report["ood"] = {}
        unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False)
        for name, (loader, size, inputs_fn) in data.ood_loaders(recipe, unwrapped, test_loader).items():
            loader = accelerator.prepare(loader)
            logits = predict_logits(model, loader, accelerator, size, inputs_fn)
            out = {"baseline": softmax(logits)}
            if "temperature_scaled" in scored:
                out["temperature_scaled"] = softmax(logits / report["temperature_scaled"]["temperature"])
            if "mc_dropout" in scored:
                set_seed(recipe.train.seed)
                out["mc_dropout"] = mc_dropout_probs(model, loader, accelerator, size, samples, inputs_fn)
            report["ood"][name] = {"n": size, **ood_report(scored, out)}
            scores.update({f"{name}/{method}": winning_scores(probs) for method, probs in out.items()})
    if recipe.eval.bootstrap_resamples:
        resamples, seed = recipe.eval.bootstrap_resamples, recipe.train.seed
        report["intervals"] = {"test": bootstrap_intervals(test_probs, labels["test"], bins, resamples, seed)}
    if recipe.eval.shift:
        temperature = report.get("temperature_scaled", {}).get("temperature")
        report["shift"] = shift_report(recipe, accelerator, model, data, temperature)
    if recipe.eval.perturbation:
        report["perturbation"] = perturbation_report(recipe, accelerator, model, data)
    return report, val_logits, test_logits, scores


def shift_report(recipe, accelerator, model, data: TaskData, temperature: float | None) -> dict:
    """Per ``eval.shift`` set: its metrics, after the in-domain temperature, and bootstrap intervals."""
    out = {}
    for name, (loader, labels, inputs_fn) in data.shift_loaders(recipe).items():
        logits = predict_logits(model, accelerator.prepare(loader), accelerator, len(labels), inputs_fn)
        probs, bins = softmax(logits), recipe.eval.n_bins
        out[name] = {"n": len(labels), "test": calibration_report(probs, labels, bins)}
        if temperature is not None:
            out[name]["temperature_scaled"] = calibration_report(apply_temperature(logits, temperature), labels, bins)
        if recipe.eval.bootstrap_resamples:
            resamples, seed = recipe.eval.bootstrap_resamples, recipe.train.seed
            out[name]["intervals"] = bootstrap_intervals(probs, labels, bins, resamples, seed)
    return out


def perturbation_report(recipe, accelerator, model, data: TaskData) -> list[dict]:
    """Accuracy, mean winning score and mean entropy on the test split moved ``μ`` along a random
    unit direction per example, x + μ·d/‖d‖ with d ~ U(−1, 1)^m, for each μ of
    ``eval.perturbation`` (the paper's Figure 10: leaving the convex hull of the data)."""
    if data.perturb is None:
        raise RecipeError(f"eval.perturbation needs continuous inputs; task={recipe.task} has none")
    rows = []
    for k, mu in enumerate(recipe.eval.perturbation):
        generator = torch.Generator().manual_seed(recipe.train.seed * 1000 + k * 10 + accelerator.process_index)

        def inputs_fn(batch, mu=mu, generator=generator):
            return data.perturb(data.inputs_fn(batch), mu, generator)

        probs = softmax(predict_logits(model, data.loaders["test"], accelerator, data.n["test"], inputs_fn))
        rows.append(
            {
                "mu": float(mu),
                "accuracy": float((probs.argmax(1) == data.labels["test"]).mean()),
                "winning_score": float(winning_scores(probs).mean()),
                "entropy": float(entropy(probs).mean()),
            }
        )
    return rows


def write_outputs(recipe, run: RunDir, val_logits, test_logits, labels, prefix: str = "") -> None:
    """predictions.npz (logits, probabilities, labels of val and test) and reliability.png."""
    test_probs = softmax(test_logits)
    atomic_save_npz(
        run.file(RunDir.PREDICTIONS, prefix),
        val_logits=val_logits,
        val_probs=softmax(val_logits),
        val_labels=labels["validation"],
        test_logits=test_logits,
        test_probs=test_probs,
        test_labels=labels["test"],
    )
    fig = reliability_diagram(
        test_probs, labels["test"], recipe.eval.n_bins, title=f"{recipe.data.name} {recipe.model.name} {recipe.method}"
    )
    save_figure(fig, run.file(RunDir.RELIABILITY, prefix))
