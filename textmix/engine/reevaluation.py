"""``textmix evaluate RUN_DIR``: reload a run's best model and recompute every metric."""

from __future__ import annotations

import contextlib
from pathlib import Path

from textmix.core.atomic_files import atomic_write_json
from textmix.core.errors import RecipeError, RunDirError
from textmix.engine.evaluation import evaluate_model, write_outputs
from textmix.engine.recipe import load_recipe
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import get_task
from textmix.engine.training import make_accelerator


def evaluate_run(run_dir: str | Path, overrides: list[str] = ()) -> dict:
    """Evaluate ``run_dir/model`` on the recipe's validation and test splits.

    Only ``eval.*`` keys may be overridden. Writes ``evaluation.json``, ``eval_predictions.npz``
    and ``eval_reliability.png`` (never touches the training outputs).
    """
    run = RunDir(run_dir)
    if not run.has_recipe or not run.model.is_dir():
        raise RunDirError(f"{run} is not a finished textmix run (needs {RunDir.RECIPE} and {RunDir.MODEL}/)")
    for assignment in overrides:
        if not assignment.startswith("eval."):
            raise RecipeError(f"textmix evaluate only overrides eval.* keys, got {assignment!r}")
    recipe = load_recipe(run.recipe, overrides)
    accelerator = make_accelerator()
    with run.locked("textmix evaluate") if accelerator.is_main_process else contextlib.nullcontext():
        return _evaluate(run, recipe, accelerator)


def _evaluate(run: RunDir, recipe, accelerator) -> dict:
    data = get_task(recipe.task).load_for_evaluation(recipe, run.model)
    data.model, *loaders = accelerator.prepare(data.model, data.loaders["validation"], data.loaders["test"])
    data.loaders = dict(zip(("validation", "test"), loaders))
    evaluation = evaluate_model(data.model, data, accelerator, recipe.eval, recipe.train.seed)
    report, val_logits, test_logits = evaluation.report, evaluation.val_logits, evaluation.test_logits
    if accelerator.is_main_process:
        write_outputs(
            run, val_logits, test_logits, data.labels, recipe.eval.n_bins, recipe.title, prefix=RunDir.EVAL_PREFIX
        )
        atomic_write_json(run.evaluation, report)
    return report
