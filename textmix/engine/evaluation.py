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

from textmix.core.assessment import NONE, Assessment, Scores, assess
from textmix.core.atomic_files import atomic_save_npz
from textmix.core.calibrators import uncalibrated_probs
from textmix.core.metrics import calibration_report, entropy
from textmix.core.plots import reliability_diagram, save_figure
from textmix.core.risk_control import RISKS, RiskControl, RiskSettings
from textmix.engine.conformal_sets import saved_scores, settings_of, validation_rows
from textmix.engine.logs import get_logger
from textmix.engine.run_directory import RunDir
from textmix.engine.sections import EvalConfig
from textmix.engine.tasks import TaskData

logger = get_logger(__name__)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    loader,
    accelerator: Accelerator,
    n: int,
    inputs_fn: Callable[[dict], dict],
    mc_dropout: bool = False,
    features: bool = False,
):
    """Logits (N, K) of every example of a prepared loader, in dataset order, on every rank; with
    ``features``, (logits, pooled features (N, D)): the input of the model's ``classifier`` layer
    (None for a model without one).

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
    head = getattr(accelerator.unwrap_model(model, keep_torch_compile=False), "classifier", None)
    pooled: list[torch.Tensor] = []
    hook = None
    if features and isinstance(head, nn.Linear):  # what the last layer reads: the pooled representation
        hook = head.register_forward_pre_hook(lambda _, args: pooled.append(args[0].detach().float()))
    indices, outputs, kept = [], [], []
    try:
        for batch in loader:
            logits = model(**inputs_fn(batch)).float()
            gathered = (batch["index"], logits, pooled.pop()) if hook else (batch["index"], logits)
            gathered = accelerator.gather_for_metrics(gathered)
            indices.append(gathered[0].cpu())
            outputs.append(gathered[1].cpu())
            if hook:
                kept.append(gathered[2].cpu())
    finally:
        if hook:
            hook.remove()
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
    if not features:
        return out
    if not hook:
        return out, None
    pooled_out = np.empty((n, kept[0].shape[1]), dtype=np.float32)
    pooled_out[index] = torch.cat(kept).numpy()
    return out, pooled_out


def mc_dropout_probs(model, loader, accelerator, n: int, samples: int, inputs_fn) -> np.ndarray:
    """Mean softmax over ``samples`` stochastic passes (Gal & Ghahramani 2016)."""
    total = None
    for _ in range(samples):
        probs = uncalibrated_probs(predict_logits(model, loader, accelerator, n, inputs_fn, mc_dropout=True))
        total = probs if total is None else total + probs
    return total / samples


def winning_scores(probs: np.ndarray) -> np.ndarray:
    return probs.max(axis=1)


@dataclass
class Evaluation:
    """Everything ``evaluate_model`` measured.

    Attributes:
        report: the metrics (metrics.json / evaluation.json): the assessment's JSON and the
            model-level blocks (MC dropout, perturbation).
        assessment: the typed assessment (:class:`textmix.core.assessment.Assessment`).
        val_logits, test_logits: (N, K) logits of the validation and test splits.
        scores: winning scores {"<set>/<source>": (N,)} of the test split and every OOD set.
        calibrators: the fitted calibrators by name, the one to keep with the model first.
        conformal_scores: per conformal method, what ``predict --conformal`` needs (textmix.json).
        risk_counts: what ``predict --target-risk`` needs (textmix.json): the Learn-then-Test counts
            of the calibration rows under the kept calibrator.
    """

    report: dict
    assessment: Assessment
    val_logits: np.ndarray
    test_logits: np.ndarray
    scores: dict
    calibrators: dict
    conformal_scores: dict
    risk_counts: dict


def say(step: str) -> None:
    """A step of the evaluation in the log: a long one (MC dropout, a large shifted set) is never silent."""
    logger.info(f"evaluation: {step}")


def evaluate_model(model, data: TaskData, accelerator, settings: EvalConfig, seed: int) -> Evaluation:
    """Every metric of a trained model: the model's logits on validation, test, OOD and shift sets
    go to :func:`textmix.core.assessment.assess` (calibrators, intervals, conformal sets, OOD
    AUROC); MC dropout and the perturbation study need the model and are measured here.

    ``data.loaders`` must be prepared by ``accelerator``; ``seed`` seeds MC dropout, the bootstrap
    and the carve-out of conformal calibration examples (``eval.conformal.split``).
    """
    bins, fn = settings.n_bins, data.inputs_fn
    n, labels = data.n, data.labels
    conformal = settings_of(settings.conformal)
    weigh = bool(settings.shift and conformal.alpha)  # weighted conformal sets on shifted sets need features
    logits, pooled = {}, {}
    say(f"predictions on {', '.join(f'{name} ({size:,})' for name, size in n.items())}")
    for name in n:
        if weigh and name == "validation":
            logits[name], pooled[name] = predict_logits(model, data.loaders[name], accelerator, n[name], fn,
                                                        features=True)  # fmt: skip
        else:
            logits[name] = predict_logits(model, data.loaders[name], accelerator, n[name], fn)
    select, carve = validation_rows(labels["validation"], conformal.split, seed)
    val = Scores.of_logits(logits["validation"], labels["validation"])
    test = Scores.of_logits(logits["test"], labels["test"])
    samples, extra, model_level = settings.mc_dropout_samples, {}, {}
    if samples:
        say(f"MC dropout, {samples} passes over test")
        set_seed(seed)
        probs = mc_dropout_probs(model, data.loaders["test"], accelerator, n["test"], samples, fn)
        model_level["mc_dropout"] = {"samples": samples, "test": calibration_report(probs, labels["test"], bins)}
        extra["mc_dropout"] = {"test": probs}
    ood = {}
    if settings.ood:
        unwrapped = accelerator.unwrap_model(model, keep_torch_compile=False)
        for name, ood_set in data.ood_sets(unwrapped).items():
            say(f"out-of-distribution set {name} ({ood_set.size:,})")
            loader = accelerator.prepare(ood_set.loader)
            ood[name] = Scores.of_logits(predict_logits(model, loader, accelerator, ood_set.size, ood_set.inputs_fn))
            if samples:
                set_seed(seed)
                extra["mc_dropout"][name] = mc_dropout_probs(model, loader, accelerator, ood_set.size, samples,
                                                             ood_set.inputs_fn)  # fmt: skip
    shift = {}
    for name, shift_set in (data.shift_sets() if settings.shift else {}).items():
        say(f"shifted set {name} ({shift_set.size:,})")
        loader = accelerator.prepare(shift_set.loader)
        if weigh and pooled.get("validation") is not None:
            shift_logits, features = predict_logits(model, loader, accelerator, shift_set.size, shift_set.inputs_fn,
                                                    features=True)  # fmt: skip
        else:
            shift_logits, features = (
                predict_logits(model, loader, accelerator, shift_set.size, shift_set.inputs_fn),
                None,
            )
        shift[name] = Scores.of_logits(shift_logits, shift_set.labels, features)
    if pooled.get("validation") is not None:
        val.features = pooled["validation"]
    calibration = val.rows(carve)
    risk = RiskSettings.parse(settings.risk_control)
    rows = calibration if conformal.alpha or risk.risk else None
    say("calibrators, intervals, noise floors and conformal sets")
    assessment = assess(val.rows(select), test, calibrators=settings.fitted_calibrators, choose=settings.calibrator,
                        conformal=conformal, conformal_rows=rows, risk_control=risk, n_bins=bins,
                        bootstrap=settings.bootstrap_resamples, floor=settings.floor_draws, seed=seed, shift=shift,
                        ood=ood, extra_sources=extra)  # fmt: skip
    report = {**assessment.to_json(), **model_level}
    if settings.perturbation:
        say(f"perturbation study, {len(settings.perturbation)} distances")
        report["perturbation"] = perturbation_report(model, data, accelerator, settings.perturbation, seed)
    calibrators = assessment.calibrators
    scores = winning_score_table({"test": test, **ood}, calibrators, extra)
    chosen = next(iter(calibrators.values()), None)
    probs = (chosen or uncalibrated_probs)(calibration.logits)
    source = chosen.name if chosen else "none"
    saved = {"probabilities": source, "methods": saved_scores(conformal, probs, calibration.labels, seed)}
    counts = {risk: RiskControl.tabulate(risk, probs, calibration.labels).to_json() for risk in RISKS}
    return Evaluation(report, assessment, logits["validation"], logits["test"], scores, calibrators, saved,
                      {"probabilities": source, "n": len(calibration), **counts})  # fmt: skip


def winning_score_table(sets: dict[str, Scores], calibrators: dict, extra: dict) -> dict[str, np.ndarray]:
    """{"<set>/<source>": winning scores} of each set and probability source (scores.npz)."""
    out = {}
    for set_name, scores in sets.items():
        logits = scores.logits.astype(np.float64)
        probs = {NONE: scores.probs, **{name: c(logits) for name, c in calibrators.items()}}
        probs.update({source: by_set[set_name] for source, by_set in extra.items()})
        out.update({f"{set_name}/{source}": winning_scores(p) for source, p in probs.items()})
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
