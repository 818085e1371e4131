"""``textmix evaluate RUN_DIR``: reload a run's best model and recompute every metric."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from textmix.core.atomic_files import atomic_write_json
from textmix.core.errors import RecipeError, RunDirError
from textmix.engine.evaluation import evaluate_model, write_outputs
from textmix.engine.recipe import load_recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import get_task
from textmix.engine.training import make_accelerator

logger = logging.getLogger(__name__)


def evaluate_run(run_dir: str | Path, overrides: list[str] = ()) -> dict:
    """Evaluate ``run_dir/model`` on the recipe's validation and test splits.

    Only ``eval.*`` keys may be overridden. Writes ``evaluation.json``, ``eval_predictions.npz``
    and ``eval_reliability.png`` (never touches the training outputs). An unfinished run (stopped
    before its final evaluation) is evaluated with its best model so far, and says so.
    """
    run = RunDir(run_dir)
    if not run.has_recipe or not run.model.is_dir():
        raise RunDirError(f"{run} is not a finished textmix run (needs {RunDir.RECIPE} and {RunDir.MODEL}/)")
    for assignment in overrides:
        if not assignment.startswith("eval."):
            raise RecipeError(f"textmix evaluate only overrides eval.* keys, got {assignment!r}")
    recipe = load_recipe(run.recipe, overrides)
    accelerator = make_accelerator()
    epoch = _model_epoch(run)
    if not run.finished and accelerator.is_main_process:
        logger.warning(f"notice: {run} is unfinished (interrupted; --resume continues it): evaluating its best "
                       f"model so far, from epoch {epoch} of {recipe.train.epochs}")  # fmt: skip
    with run.locked("textmix evaluate") if accelerator.is_main_process else contextlib.nullcontext():
        report = _evaluate(run, recipe, accelerator, {"run_finished": run.finished, "model_epoch": epoch})
    return report


def _model_epoch(run: RunDir) -> int | None:
    """The epoch of the run's saved model (``textmix.json``), None where unrecorded."""
    try:
        epoch = json.loads(run.model_info.read_text()).get("epoch")
    except (OSError, ValueError, AttributeError):
        raise RunDirError(f"{run.model_info} is unreadable; the run's model folder is damaged") from None
    return epoch if isinstance(epoch, int) else None


def _evaluate(run: RunDir, recipe, accelerator, provenance: dict) -> dict:
    data = get_task(recipe.task).load_for_evaluation(recipe, run.model)
    data.model, *loaders = accelerator.prepare(data.model, data.loaders["validation"], data.loaders["test"])
    data.loaders = dict(zip(("validation", "test"), loaders))
    evaluation = evaluate_model(data.model, data, accelerator, recipe.eval, recipe.train.seed)
    report, val_logits, test_logits = evaluation.report, evaluation.val_logits, evaluation.test_logits
    report = {**provenance, **report}
    if accelerator.is_main_process:
        write_outputs(
            run, val_logits, test_logits, data.labels, recipe.eval.n_bins, recipe.title, prefix=RunDir.EVAL_PREFIX
        )
        atomic_write_json(run.evaluation, report)
    return report


def summary(metrics: dict) -> list[str]:
    """One line per result an evaluation computed (what ``textmix evaluate`` prints): test metrics
    raw and after each calibrator, MC dropout, each OOD set's AUROC per probability source, each
    shifted set, conformal sets, guaranteed abstention and the perturbation study."""
    from textmix.core.assessment import NONE, Assessment

    a = Assessment.from_json(metrics)
    lines = []
    for source, block in a.test.blocks.items():
        m = block.metrics
        label = "raw" if source == NONE else f"after {source}" + (" (chosen)" if source == a.chosen else "")
        lines.append(f"test {label}: accuracy {m['accuracy']:.4f}, ECE {m['ece']:.4f}, NLL {m['nll']:.4f}")
    if "mc_dropout" in metrics:
        m = metrics["mc_dropout"]
        lines.append(
            f"MC dropout ({m['samples']} passes): accuracy {m['test']['accuracy']:.4f}, ECE {m['test']['ece']:.4f}"
        )
    for name, table in a.ood.items():
        aurocs = ", ".join(f"{source} {row['auroc']:.4f}" for source, row in table.items() if source != "n")
        lines.append(f"OOD {name} ({table['n']} examples): AUROC of the winning score: {aurocs}")
    for name, s in a.shift.items():
        parts = ", ".join(f"{src} ECE {b.metrics['ece']:.4f}" for src, b in s.blocks.items())
        lines.append(f"shift {name} ({s.n} examples): accuracy {s.blocks[NONE].metrics['accuracy']:.4f}, {parts}")
    for alpha, by_method in a.conformal_results().items():
        for method, by_source in by_method.items():
            for source, r in by_source.items():
                lines.append(f"conformal {method} alpha={alpha} ({source}): coverage {r['coverage']:.4f}, "
                             f"mean set size {r['mean_size']:.3f}")  # fmt: skip
    for epsilon, by_source in a.risk_results().items():
        for source, r in by_source.items():
            risk = "—" if r["risk"] is None else f"{r['risk']:.4f}"
            lines.append(f"abstention at guaranteed risk {epsilon} ({source}): answered {r['coverage']:.4f}, "
                         f"test risk {risk}")  # fmt: skip
    for row in metrics.get("perturbation", []):
        lines.append(f"perturbation mu={row['mu']:g}: accuracy {row['accuracy']:.4f}, winning score "
                     f"{row['winning_score']:.4f}, entropy {row['entropy']:.4f}")  # fmt: skip
    return lines
