"""Evaluation of a model on a split: gathered logits, calibration metrics, post-hoc calibration,
MC dropout, OOD, shift and perturbation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import set_seed

from textmix.core.atomic_files import atomic_save_npz
from textmix.core.bootstrap import bootstrap_intervals
from textmix.core.calibrators import (
    Calibrator,
    choose_calibrator,
    crossfit_reports,
    make_calibrator,
    uncalibrated_probs,
)
from textmix.core.metrics import calibration_report, entropy, ood_auroc
from textmix.core.plots import reliability_diagram, save_figure
from textmix.engine.conformal_sets import conformal_report, saved_scores, settings_of, validation_rows
from textmix.engine.run_directory import RunDir
from textmix.engine.sections import EvalConfig
from textmix.engine.tasks import EvalSet, TaskData

# metrics.json and scores.npz name a calibrator's results by its name, temperature scaling by the
# name textmix has always written
REPORT_KEYS = {"temperature": "temperature_scaled"}


def report_key(name: str) -> str:
    return REPORT_KEYS.get(name, name)


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


def mc_dropout_probs(model, loader, accelerator, n: int, samples: int, inputs_fn) -> np.ndarray:
    """Mean softmax over ``samples`` stochastic passes (Gal & Ghahramani 2016)."""
    total = None
    for _ in range(samples):
        probs = uncalibrated_probs(predict_logits(model, loader, accelerator, n, inputs_fn, mc_dropout=True))
        total = probs if total is None else total + probs
    return total / samples


def calibrated_report(calibrator: Calibrator, logits: dict, labels: dict, n_bins: int) -> dict:
    """The fitted calibrator's state and the metrics of each split after it. Logits are scaled in
    float64, as the calibrator was fitted."""
    out = dict(calibrator.state_dict())
    for split, name in (("val", "validation"), ("test", "test")):
        out[split] = calibration_report(calibrator(logits[name].astype(np.float64)), labels[name], n_bins)
    return out


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


@dataclass
class Evaluation:
    """Everything ``evaluate_model`` measured.

    Attributes:
        report: the metrics (metrics.json / evaluation.json).
        val_logits, test_logits: (N, K) logits of the validation and test splits.
        scores: winning scores {"<set>/<scoring>": (N,)} of the test split and every OOD set.
        calibrators: the fitted calibrators by name, the one to keep with the model first.
        conformal_scores: per conformal method, what ``predict --conformal`` needs (textmix.json).
    """

    report: dict
    val_logits: np.ndarray
    test_logits: np.ndarray
    scores: dict
    calibrators: dict
    conformal_scores: dict


def evaluate_model(model, data: TaskData, accelerator, settings: EvalConfig, seed: int) -> Evaluation:
    """Every metric of a trained model: val / test, post-hoc calibration, conformal sets, MC
    dropout, OOD AUROC, domain shift, perturbation away from the data.

    ``data.loaders`` must be prepared by ``accelerator``; ``seed`` seeds MC dropout, the bootstrap
    and the carve-out of conformal calibration examples (``eval.conformal.split``).
    """
    bins, fn = settings.n_bins, data.inputs_fn
    test_loader, n, labels = data.loaders["test"], data.n, data.labels
    logits = {name: predict_logits(model, data.loaders[name], accelerator, n[name], fn) for name in n}
    conformal = settings_of(settings.conformal)
    select, carve = validation_rows(labels["validation"], conformal.split, seed)
    fit_logits = {"validation": logits["validation"][select], "test": logits["test"]}
    fit_labels = {"validation": labels["validation"][select], "test": labels["test"]}
    test_probs = uncalibrated_probs(logits["test"])
    report = {
        "val": calibration_report(uncalibrated_probs(fit_logits["validation"]), fit_labels["validation"], bins),
        "test": calibration_report(test_probs, labels["test"], bins),
    }
    calibrators = fit_calibrators(settings, fit_logits["validation"], fit_labels["validation"], report, seed)
    scored = {
        "baseline": test_probs,
        **add_calibrator_blocks(report, calibrators, fit_logits, fit_labels, settings, seed),
    }
    samples = settings.mc_dropout_samples
    if samples:
        set_seed(seed)
        probs = mc_dropout_probs(model, test_loader, accelerator, n["test"], samples, fn)
        report["mc_dropout"] = {"samples": samples, "test": calibration_report(probs, labels["test"], bins)}
        scored["mc_dropout"] = probs
    scores = {f"test/{method}": winning_scores(probs) for method, probs in scored.items()}
    if settings.ood:
        report["ood"] = {}
        unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False)
        for name, ood in data.ood_sets(unwrapped).items():
            loader = accelerator.prepare(ood.loader)
            ood_logits = predict_logits(model, loader, accelerator, ood.size, ood.inputs_fn)
            out = {"baseline": uncalibrated_probs(ood_logits)}
            out.update({report_key(name): calibrator(ood_logits) for name, calibrator in calibrators.items()})
            if samples:
                set_seed(seed)
                out["mc_dropout"] = mc_dropout_probs(model, loader, accelerator, ood.size, samples, ood.inputs_fn)
            report["ood"][name] = {"n": ood.size, **ood_report(scored, out)}
            scores.update({f"{name}/{method}": winning_scores(probs) for method, probs in out.items()})
    if settings.bootstrap_resamples:
        resamples = settings.bootstrap_resamples
        report["intervals"] = {"test": bootstrap_intervals(test_probs, labels["test"], bins, resamples, seed)}
    chosen = next(iter(calibrators.values()), None)
    calibration = (logits["validation"][carve], labels["validation"][carve])
    if conformal.alpha:
        results = conformal_report(conformal, calibrators, calibration, (logits["test"], labels["test"]),
                                   settings.bootstrap_resamples, seed)  # fmt: skip
        report["conformal"] = {"split": conformal.split, "n_calibration": len(carve), "results": results}
    if settings.shift:
        in_domain = calibration if conformal.alpha else None
        report["shift"] = shift_report(model, data.shift_sets(), accelerator, calibrators, settings, seed, in_domain)
    if settings.perturbation:
        report["perturbation"] = perturbation_report(model, data, accelerator, settings.perturbation, seed)
    saved = saved_scores(conformal, (chosen or uncalibrated_probs)(calibration[0]), calibration[1], seed)
    saved = {"probabilities": chosen.name if chosen else "none", "methods": saved}
    return Evaluation(report, logits["validation"], logits["test"], scores, calibrators, saved)


def add_calibrator_blocks(report: dict, calibrators: dict, logits: dict, labels: dict, settings: EvalConfig, seed: int):
    """Each calibrator's block in ``report`` (temperature scaling under its old key, the others under
    ``calibrated`` with cross-fitted validation metrics and test intervals); returns their test
    probabilities by report key."""
    scored = {}
    for name, calibrator in calibrators.items():
        block = calibrated_report(calibrator, logits, labels, settings.n_bins)
        if name not in REPORT_KEYS:  # validation metrics of a fit on validation flatter: the cross-fitted ones
            block["val"] = report["calibrator_choice"]["crossfit_val"][name]
            if settings.bootstrap_resamples:
                probs, resamples = calibrator(logits["test"]), settings.bootstrap_resamples
                block["intervals"] = bootstrap_intervals(probs, labels["test"], settings.n_bins, resamples, seed)
            report.setdefault("calibrated", {})[name] = block
        else:
            report[REPORT_KEYS[name]] = block
        scored[report_key(name)] = calibrator(logits["test"])
    return scored


def fit_calibrators(settings: EvalConfig, val_logits, val_labels, report: dict, seed: int) -> dict[str, Calibrator]:
    """Every calibrator of ``eval.calibrators`` fitted on validation, the one to keep with the model
    first. Unless temperature scaling is the only one, each is also cross-fitted on validation: those
    metrics go to ``report["calibrator_choice"]`` and choose the calibrator for ``auto``."""
    names = settings.fitted_calibrators
    crossfit = None
    if len(names) > 1 or set(names) - set(REPORT_KEYS):
        crossfit = crossfit_reports(names, val_logits, val_labels, settings.n_bins, seed)
    chosen = choose_calibrator(settings.calibrator, names, crossfit)
    if crossfit is not None:
        report["calibrator_choice"] = {"chosen": chosen, "setting": settings.calibrator, "crossfit_val": crossfit}
    ordered = [chosen, *(n for n in names if n != chosen)] if chosen else []
    return {name: make_calibrator(name).fit(val_logits, val_labels) for name in ordered}


def shift_report(
    model, sets: dict[str, EvalSet], accelerator, calibrators, settings: EvalConfig, seed: int, conformal_rows=None
) -> dict:
    """Per ``eval.shift`` set: its metrics, after each in-domain calibrator, bootstrap intervals and,
    given the in-domain conformal calibration rows ((logits, labels)), the conformal sets of
    ``eval.conformal`` calibrated in-domain and measured on the shifted set (does coverage hold?)."""
    out = {}
    bins = settings.n_bins
    for name, shift in sets.items():
        logits = predict_logits(model, accelerator.prepare(shift.loader), accelerator, shift.size, shift.inputs_fn)
        probs = uncalibrated_probs(logits)
        out[name] = {"n": shift.size, "test": calibration_report(probs, shift.labels, bins)}
        for cal_name, calibrator in calibrators.items():
            scaled = calibrator(logits.astype(np.float64))
            out[name][report_key(cal_name)] = calibration_report(scaled, shift.labels, bins)
        if settings.bootstrap_resamples:
            out[name]["intervals"] = bootstrap_intervals(probs, shift.labels, bins, settings.bootstrap_resamples, seed)
        if conformal_rows is not None:  # seeds give the intervals here: no bootstrap of a large shifted set
            conformal = settings_of(settings.conformal)
            shifted = (logits, shift.labels)
            out[name]["conformal"] = conformal_report(conformal, calibrators, conformal_rows, shifted, 0, seed)
    return out


def perturbation_report(model, data: TaskData, accelerator, distances: list[float], seed: int) -> list[dict]:
    """Accuracy, mean winning score and mean entropy on the test split moved ``μ`` along a random
    unit direction per example, x + μ·d/‖d‖ with d ~ U(−1, 1)^m, for each μ of ``distances`` (the
    paper's Figure 10: leaving the convex hull of the data). Tasks validate that their inputs are
    continuous (``data.perturb``)."""
    rows = []
    for k, mu in enumerate(distances):
        generator = torch.Generator().manual_seed(seed * 1000 + k * 10 + accelerator.process_index)

        def inputs_fn(batch, mu=mu, generator=generator):
            return data.perturb(data.inputs_fn(batch), mu, generator)

        probs = uncalibrated_probs(predict_logits(model, data.loaders["test"], accelerator, data.n["test"], inputs_fn))
        rows.append(
            {
                "mu": float(mu),
                "accuracy": float((probs.argmax(1) == data.labels["test"]).mean()),
                "winning_score": float(winning_scores(probs).mean()),
                "entropy": float(entropy(probs).mean()),
            }
        )
    return rows


def write_outputs(
    run: RunDir, val_logits, test_logits, labels: dict, n_bins: int, title: str, prefix: str = ""
) -> None:
    """predictions.npz (logits, probabilities, labels of val and test) and reliability.png."""
    test_probs = uncalibrated_probs(test_logits)
    atomic_save_npz(
        run.file(RunDir.PREDICTIONS, prefix),
        val_logits=val_logits,
        val_probs=uncalibrated_probs(val_logits),
        val_labels=labels["validation"],
        test_logits=test_logits,
        test_probs=test_probs,
        test_labels=labels["test"],
    )
    save_figure(
        reliability_diagram(test_probs, labels["test"], n_bins, title=title), run.file(RunDir.RELIABILITY, prefix)
    )
